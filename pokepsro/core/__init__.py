"""The foundation every other package stands on: user-facing errors, files in and out, seeds.

Owns: `errors` (the exceptions the CLI and the jobs turn into one line), `files` (atomic writes, the JSON, JSONL
and YAML readers, publishing a finished folder, resumable work folders), `seeding` (seeds derived from names,
per-battle RNGs), `numerics` (one floating-point code path on every x86-64 CPU), `run_logger` (where training curves and meta-game numbers go: TensorBoard, wandb, none).
May import: nothing else from pokepsro.
"""
