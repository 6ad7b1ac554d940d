"""Best-response oracles: given an initial policy, opponent Players, their mixture σ and a budget, train a policy
that beats σ and return its checkpoint plus the training metrics (OpenSpiel psro_v2's oracle split).

- `ppo`: online reinforcement learning against opponents drawn per battle from σ (the standard PSRO oracle).
- `offline`: the guide's collect-then-train: fine-tune on battles collected against σ plus replay data.

The workflow calls `train_best_response(name, task)`; everything else here is the oracles' own business (`base`:
the task and result, `ppo`: the update and its config, `ppo_oracle`: rounds, checkpoints, resume, `rollouts`:
where rounds are played, `offline`). An oracle is imported only when it is asked for.
"""

from __future__ import annotations

from types import ModuleType

from pokepsro.core.errors import UsageError
from pokepsro.learning.oracle.base import BestResponseTask, OracleResult

ORACLES = ("ppo", "offline")

__all__ = ["ORACLES", "BestResponseTask", "OracleResult", "check_oracle", "train_best_response"]


def _oracle(name: str) -> ModuleType:
    """The module implementing oracle `name`: `check_options(options)` and `train(task)`."""
    if name == "ppo":
        from pokepsro.learning.oracle import ppo_oracle

        return ppo_oracle
    if name == "offline":
        from pokepsro.learning.oracle import offline

        return offline
    raise UsageError(f"unknown oracle {name!r}; choose one of {', '.join(ORACLES)}")


def check_oracle(name: str, options: dict) -> None:
    """Refuse an unknown oracle or bad options before anything is written."""
    _oracle(name).check_options(options)


def train_best_response(name: str, task: BestResponseTask) -> OracleResult:
    """Run oracle `name` on `task` (a rerun with the same work folder resumes)."""
    oracle = _oracle(name)
    oracle.check_options(task.options)
    return oracle.train(task)
