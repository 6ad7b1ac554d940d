"""Deterministic seeds derived from a run seed and names, stable across processes (unlike `hash`)."""

from __future__ import annotations

import hashlib


def derive_seed(seed: int, *parts: object) -> int:
    """A 31-bit seed that depends only on `seed` and `parts`, so reruns reproduce each matchup exactly."""
    digest = hashlib.sha256(repr((int(seed),) + tuple(str(p) for p in parts)).encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF
