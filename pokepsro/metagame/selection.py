"""Whom a best response trains against (config `opponent_selection`): σ itself, or σ mixed with prioritised
fictitious self-play (PFSP, AlphaStar's f_hard(x) = (1 − x)^p) weights, which favour the members the learner's start
policy loses to, including members σ leaves out. Only training draws from this mixture; every evaluation plays σ.
"""

from __future__ import annotations

from typing import Any

import numpy as np

OPPONENT_SELECTIONS = ("sigma", "pfsp")


def pfsp_weights(win_rates: Any, power: float) -> np.ndarray:
    """w_j ∝ (1 − p_win(j))^power over the members: the harder a member is for the learner, the more it is drawn;
    `power` > 1 concentrates on the hardest. A learner that beats every member outright finds none harder than
    another: uniform."""
    hardness = (1.0 - np.asarray(win_rates, dtype=float)) ** power
    total = hardness.sum()
    return hardness / total if total > 0 else np.full(hardness.size, 1.0 / hardness.size)


def training_mixture(sigma: Any, win_rates: Any, mix: float, power: float) -> np.ndarray:
    """(1 − mix)·σ + mix·w, w the PFSP weights of the learner's `win_rates` against each member: mix = 0 is σ
    exactly, mix = 1 pure PFSP."""
    return (1.0 - mix) * np.asarray(sigma, dtype=float) + mix * pfsp_weights(win_rates, power)
