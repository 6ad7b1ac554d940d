"""The artifact layout that the rules and the jobs share: stage folders, policy names, and the policy each best
response starts from, in one place so a rule's path and a job's name never disagree.

Stages extend each other: results/phase0/baselines <- results/phase0 <- results/iteration_0 <- iteration_1 ...
Iteration i trains PSRO_BR{i} against σ of the stage before it, from the bootstrap (config `br_init: start`) or
from BR_{i-1} (`previous`); the exploiter (results/analysis/exploiter) is one more best response, against the final
σ, started from the bootstrap either way: outside σ's support, so it cannot pass by playing a mirror match.
"""

from __future__ import annotations

from typing import NamedTuple

from pokepsro.core.errors import UsageError
from pokepsro.learning.model import checkpoint_path

PHASE0 = "results/phase0"
BASELINES = f"{PHASE0}/baselines"
BOOTSTRAP_DIR = f"{PHASE0}/bootstrap"
EXPLOITER = "analysis/exploiter"  # the exploiter's best-response folder, under results/
BOOTSTRAP_NAME = "bootstrap"
EXPLOITER_NAME = "exploiter"
BR_INITS = ("start", "previous")  # config `br_init`: each BR starts from the bootstrap, or from the BR before it


def iteration_dir(i: int) -> str:
    return f"results/iteration_{i}"


def br_name(i: int) -> str:
    """The population name of iteration i's best response."""
    return f"PSRO_BR{i}"


def br_checkpoint(i: int) -> str:
    return f"{iteration_dir(i)}/best_response.pt"


def previous_dir(i: int) -> str:
    """The stage whose σ iteration i answers: phase 0, then the iteration before."""
    return PHASE0 if i == 0 else iteration_dir(i - 1)


def previous_stage(stage: str) -> str | None:
    """The stage whose matrix `stage` ("phase0/baselines", "phase0", "iteration_i") extends; None for the first."""
    if stage == "phase0":
        return BASELINES
    if stage.startswith("iteration_"):
        return previous_dir(int(stage.removeprefix("iteration_")))
    return None


def stage_number(stage: str) -> int:
    """A stage's place on the meta-game plots' x axis: baselines -1, phase0 0, iteration_i i + 1."""
    if stage.startswith("iteration_"):
        return int(stage.removeprefix("iteration_")) + 1
    return -1 if stage == "baselines" else 0


def final_stage(num_iterations: int) -> str:
    """The last stage, whose σ the exploiter answers."""
    return previous_dir(num_iterations)


def imitation_checkpoint(epochs: int) -> str:
    """The bootstrap's imitation policy: the last epoch of its offline training."""
    return str(checkpoint_path(BOOTSTRAP_DIR, "epoch", epochs))


def bootstrap_checkpoint(epochs: int, refine_battles: int) -> str:
    """The bootstrap that joins the population: imitation, then PPO refinement unless that is switched off."""
    return imitation_checkpoint(epochs) if refine_battles == 0 else f"{BOOTSTRAP_DIR}/refined.pt"


class BestResponseJob(NamedTuple):
    """One best response to train: its name, the policy it starts from, and the stage whose σ it answers."""

    name: str
    learner_name: str
    learner_checkpoint: str
    opponents_stage: str


def best_response_job(brdir: str, num_iterations: int, bootstrap: str, br_init: str) -> BestResponseJob:
    """The job of best-response folder `brdir` ("iteration_i" or the exploiter's). Iteration 0 starts from the
    bootstrap (checkpoint `bootstrap`), iteration i from the bootstrap too with `br_init` "start" (the guide: every
    BR from one fixed start), from BR_{i-1} with "previous". The exploiter starts from the bootstrap under both: the
    last BR is often σ's only member, and a copy of σ's support gains nothing on σ whether or not σ is exploitable."""
    if br_init not in BR_INITS:
        raise UsageError(f"br_init {br_init!r}: choose one of {', '.join(BR_INITS)}")
    if brdir == EXPLOITER:
        return BestResponseJob(EXPLOITER_NAME, BOOTSTRAP_NAME, bootstrap, previous_dir(num_iterations))
    i = int(brdir.removeprefix("iteration_"))
    if i == 0 or br_init == "start":
        return BestResponseJob(br_name(i), BOOTSTRAP_NAME, bootstrap, previous_dir(i))
    return BestResponseJob(br_name(i), br_name(i - 1), br_checkpoint(i - 1), previous_dir(i))


def collected_dir(brdir: str) -> str:
    """The battles rule collect records for best response results/{brdir} (the offline oracle's data)."""
    return f"results/{brdir}/br_trajectories"


def oracle_inputs(brdir: str, names: tuple[str, ...]) -> dict[str, list[str]]:
    """The datasets `names` (an oracle module's INPUTS) of best response results/{brdir}: `collected`, its start
    against the training mixture; `replay`, every battle of the phase-0 tournaments, recorded from both seats."""
    datasets = {"collected": [collected_dir(brdir)], "replay": [f"{BASELINES}/trajectories", f"{PHASE0}/trajectories"]}
    return {name: datasets[name] for name in names}
