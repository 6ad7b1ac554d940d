"""Best-response oracles: given an initial policy, a population, its Nash mixture σ and a budget, train a policy
that beats σ and return its checkpoint plus the training metrics (OpenSpiel psro_v2's oracle split).

- `ppo`: online reinforcement learning against opponents drawn per battle from σ (the standard PSRO oracle).
- `offline`: the guide's collect-then-train: fine-tune on battles collected against σ plus replay data.

The workflow calls `train_best_response(name, task)`; everything else here is the oracles' own business.
"""

from pokepsro.learning.oracle.base import (
    ORACLES,
    BestResponseTask,
    OracleResult,
    check_oracle,
    train_best_response,
)

__all__ = ["ORACLES", "BestResponseTask", "OracleResult", "check_oracle", "train_best_response"]
