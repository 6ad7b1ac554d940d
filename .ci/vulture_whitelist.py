"""Names vulture cannot see used, for `make lint` (vulture reads pokepsro/, scripts/ and benchmarks/, not tests/:
code that only tests call counts as dead). Add a name only with the caller that vulture cannot read.
"""
# ruff: noqa
_ = object()

# Snakemake: the Snakefile validates the config, rules/common.smk builds paths from the artifact layout.
validate_config
previous_stage, final_stage, bootstrap_checkpoint, best_response_job, oracle_inputs
_.opponents_stage

# Called through a protocol: torch calls Module.forward, poke-env Teambuilder.yield_team; poke-env passes
# message_2 to send_message; the signal module and the `with` statement pass frame and exc_type.
_.forward, _.yield_team
message_2, frame, exc_type, exc_info

# What a run did, kept for whoever watches it (the tests assert on it): errors a baseline or the simulator
# survived, shards a recorder wrote or could not, passes a sampler makes over the collected data, the private
# folder of a Showdown server, and where the feature layout's stay-in tactics begin.
_.decision_errors, _.simulator_errors, _.shards_written, _.missing_recordings, _.expected_passes
_.private_root
STAY_TACTICS_START
