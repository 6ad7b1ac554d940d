"""What every battle backend shares: the run's settings, the turn limit, and how a finished battle becomes its
one record (after its callback, so a battle whose callback did not finish is replayed on resume).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from poke_env.player import Player
from poke_env.player.battle_order import ForfeitBattleOrder

from pokepsro.battles.spec import BattleSpec
from pokepsro.core.files import append_jsonl

if TYPE_CHECKING:
    from poke_env.battle.abstract_battle import AbstractBattle

PlayerFactory = Callable[..., Player]


@dataclass(frozen=True)
class FinishedSide:
    """One side of a finished battle as the battle-end callback gets it: the Player (which may hold what it
    recorded of the battle) and that Player's battle object."""

    player: Player
    battle: AbstractBattle


BattleEndCallback = Callable[[BattleSpec, FinishedSide, FinishedSide, dict], None]
TurnCallback = Callable[[BattleSpec, int], None]


@dataclass(frozen=True)
class ArenaSettings:
    """One run's players and limits, as handed to a backend (and, pickled, to its worker processes)."""

    players: Mapping[str, PlayerFactory]
    battle_format: str
    concurrency: int
    record_path: Path | None
    max_turns: int
    battle_timeout_s: float
    on_battle_end: BattleEndCallback | None
    on_turn: TurnCallback | None = None  # (spec, turn) at each of side A's decisions; the direct backend only


def progress_bar(total: int, pending: int, shown: bool):
    """The run's tqdm bar over all its battles, those recorded by an earlier run already counted."""
    from tqdm import tqdm

    return tqdm(total=total, initial=total - pending, unit="battle", disable=not shown, desc="battles",
                smoothing=0.1)


def enforce_turn_limit(player: Player, max_turns: int, turn_limited: set[str]) -> None:
    """Forfeit instead of moving once a battle passes `max_turns`, noting its tag in `turn_limited`.

    The battle is then recorded as a turn-limit tie.
    """
    choose_move = player.choose_move

    def choose_or_forfeit(battle):
        if battle.turn > max_turns:
            turn_limited.add(battle.battle_tag)
            return ForfeitBattleOrder()
        return choose_move(battle)

    player.choose_move = choose_or_forfeit


def build_record(spec: BattleSpec, battle_a: AbstractBattle, battle_format: str, end: str, wall_s: float) -> dict:
    """The battle's record from side A's battle object; limits turn any outcome into a tie."""
    if end != "normal" or battle_a.won is None:
        result_a = "tie"
    else:
        result_a = "win" if battle_a.won else "loss"
    winner = {"win": spec.policy_a, "loss": spec.policy_b}.get(result_a)
    return {"index": spec.index, "battle_id": battle_a.battle_tag, "policy_a": spec.policy_a,
            "policy_b": spec.policy_b, "a_seat": spec.a_seat, "winner": winner, "result_a": result_a,
            "end": end, "turns": battle_a.turn, "team_a": spec.team_a.id,
            "team_b": spec.team_b.id if spec.team_b is not None else None,
            "seed": spec.seed, "format": battle_format, "wall_s": round(wall_s, 3),
            "finished_at": round(time.time(), 3)}


def keep_record(settings: ArenaSettings, records: dict[int, dict], spec: BattleSpec, side_a: FinishedSide,
                side_b: FinishedSide, record: dict) -> None:
    """Callback first, then the record on disk: a battle whose callback did not finish is replayed on resume."""
    if settings.on_battle_end is not None:
        settings.on_battle_end(spec, side_a, side_b, record)
    if settings.record_path is not None:
        append_jsonl(settings.record_path, [record])
    records[spec.index] = record
