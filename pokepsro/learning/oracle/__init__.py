"""Best-response oracles: given an initial policy, opponent Players, their mixture σ and a budget, train a policy
that beats σ and return its checkpoint plus the training metrics (OpenSpiel psro_v2's oracle split).

- `ppo`: online reinforcement learning against opponents drawn per battle from σ (the standard PSRO oracle).
- `offline`: the guide's collect-then-train: fine-tune on battles collected against σ plus replay data.

`ORACLES` maps each kind (workflow config `oracle.kind`) to its module, which owns its configuration, the block
`oracle.<kind>`:
- `Options`: a frozen dataclass of plain values, what the oracle needs to train; `dataclasses.asdict` of it is a
  rule param, so a changed value retrains, and `Options(**param)` gives it back in the job.
- `check(config) -> Options`: validates what config/schema.yaml cannot (loads the hyper-parameter files), once,
  naming the bad config key.
- `INPUTS`: the datasets it trains on, by name (pokepsro.workflow.layout.oracle_inputs says where each lies),
  given to it as `task.inputs`.
- `train(task) -> OracleResult`.

Everything else here is the oracles' own business (`base`: the task and result, `ppo`: the update and its
config, `ppo_oracle`: rounds, checkpoints, resume, `rollouts`: where rounds are played, `offline`). An oracle is
imported only when it is asked for.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from pokepsro.core.errors import UsageError
from pokepsro.learning.oracle.base import BestResponseTask, OracleResult

ORACLES = {"ppo": "pokepsro.learning.oracle.ppo_oracle", "offline": "pokepsro.learning.oracle.offline"}

__all__ = ["ORACLES", "BestResponseTask", "OracleResult", "oracle_module", "train_best_response"]


def oracle_module(kind: str) -> ModuleType:
    """The module of oracle `kind` (`Options`, `check`, `INPUTS`, `train`); an unknown kind is refused."""
    if kind not in ORACLES:
        raise UsageError(f"unknown oracle {kind!r}; choose one of {', '.join(ORACLES)}")
    return importlib.import_module(ORACLES[kind])


def train_best_response(kind: str, task: BestResponseTask) -> OracleResult:
    """Run oracle `kind` on `task`, whose options are its module's `Options` (a rerun with the same work folder
    resumes)."""
    return oracle_module(kind).train(task)
