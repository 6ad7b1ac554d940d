"""Bradley–Terry ratings and GXE: known ratings come back from battles drawn from them, intervals cover, each battle
counts once, and input that cannot be rated is refused naming what is wrong."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit

from pokepsro.core.errors import UsageError
from pokepsro.metagame.matrix import InteractionMatrix, PairCounts
from pokepsro.metagame.population import PolicyEntry, Population
from pokepsro.metagame.ratings import (
    ELO_PER_UNIT,
    MEAN_RATING,
    BattleBlock,
    evaluation_block,
    fit_ratings,
    tournament_blocks,
)

NAMES = ["m0", "m1", "m2", "m3", "m4", "m5"]
TRUE_ELO = np.array([-400.0, -150.0, 0.0, 50.0, 200.0, 300.0])  # centred below: the members' mean is 1500


def true_ratings() -> np.ndarray:
    return MEAN_RATING + TRUE_ELO - TRUE_ELO.mean()


def drawn_blocks(seed: int, battles_per_pair: int = 200, ties: float = 0.0) -> list[BattleBlock]:
    """A round robin drawn from the BT model of TRUE_ELO; a share `ties` of battles tie (they carry no strength)."""
    rng = np.random.default_rng(seed)
    strengths = TRUE_ELO / ELO_PER_UNIT
    blocks = []
    for i, a in enumerate(NAMES):
        for j in range(i + 1, len(NAMES)):
            tied = rng.binomial(battles_per_pair, ties)
            won = rng.binomial(battles_per_pair - tied, expit(strengths[i] - strengths[j]))
            counts = {"win": won, "loss": battles_per_pair - tied - won, "tie": tied}
            blocks.append(BattleBlock(f"{a}-{NAMES[j]}", {(a, NAMES[j], r): n for r, n in counts.items() if n}))
    return blocks


def column(rated: dict, key: str) -> np.ndarray:
    return np.array([rated[name][key] for name in NAMES])


def test_known_ratings_come_back_from_battles_drawn_from_them():
    """200 battles a pair: each rating's standard error is ≈ 30 Elo; over 10 seeds none is off by 100 (> 3 SE)."""
    for seed in range(10):
        rated = fit_ratings(NAMES, drawn_blocks(seed), seed=seed)
        assert np.abs(column(rated, "rating") - true_ratings()).max() < 100, seed
        assert column(rated, "rating").mean() == pytest.approx(MEAN_RATING)


def test_the_intervals_cover_the_true_ratings_and_gxe():
    """Nominal 95 %: over 20 seeds × 6 members at least 80 % of intervals hold the truth (88–98 % in 10 batches of
    20 seeds), and each holds its point estimate."""
    strengths = TRUE_ELO / ELO_PER_UNIT
    true_gxe = (expit(strengths[:, None] - strengths[None, :]).sum(axis=1) - 0.5) / (len(NAMES) - 1)
    covered = covered_gxe = 0
    for seed in range(20):
        rated = fit_ratings(NAMES, drawn_blocks(100 + seed), seed=seed, resamples=300)
        lows, highs = np.array(column(rated, "ci95")).T
        covered += int(((lows <= true_ratings()) & (true_ratings() <= highs)).sum())
        assert (lows < column(rated, "rating")).all() and (column(rated, "rating") < highs).all()
        gxe_lows, gxe_highs = np.array(column(rated, "gxe_ci95")).T
        covered_gxe += int(((gxe_lows <= true_gxe) & (true_gxe <= gxe_highs)).sum())
    assert covered >= 0.8 * 120 and covered_gxe >= 0.8 * 120, (covered, covered_gxe)


def test_a_dominated_member_has_a_low_gxe_and_a_finite_rating():
    """m0 loses every battle: its rating is held by the prior (finite, far below), its GXE near 0."""
    blocks = [block for block in drawn_blocks(3) if not block.source.startswith("m0-")]
    blocks += [BattleBlock(f"m0-{name}", {("m0", name, "loss"): 50}) for name in NAMES[1:]]
    rated = fit_ratings(NAMES, blocks, seed=3)
    worst = rated["m0"]
    assert np.isfinite(worst["rating"]) and worst["rating"] < min(rated[n]["ci95"][0] for n in NAMES[1:]) - 300
    assert worst["gxe"] < 0.05 and worst["gxe_ci95"][1] < 0.1
    assert worst["wins"] == 0 and worst["losses"] == worst["battles"] == 250
    assert max(rated[n]["gxe"] for n in NAMES) == rated["m5"]["gxe"]


def test_ties_count_half_and_the_fit_is_reproducible():
    """Only ties: everyone even. Wins and losses with ties: each side scores ½ a tie."""
    even = fit_ratings(["a", "b"], [BattleBlock("a-b", {("a", "b", "tie"): 10})], seed=1)
    assert even["a"]["rating"] == pytest.approx(MEAN_RATING) and even["a"]["gxe"] == pytest.approx(0.5)
    assert even["a"]["ties"] == even["b"]["ties"] == 10
    # 6 wins, 2 losses, 4 ties: a scores 8 of 12, odds 2, so a − b = 400·log10(2) (the prior moves it < 1 Elo).
    rated = fit_ratings(["a", "b"], [BattleBlock("a-b", {("a", "b", "win"): 6, ("a", "b", "loss"): 2,
                                                        ("a", "b", "tie"): 4})], seed=1)
    assert rated["a"]["rating"] - rated["b"]["rating"] == pytest.approx(400 * np.log10(2), abs=1.0)
    assert rated["a"]["gxe"] == pytest.approx(2 / 3, abs=1e-3)
    assert rated == fit_ratings(["a", "b"], [BattleBlock("a-b", {("a", "b", "win"): 6, ("a", "b", "loss"): 2,
                                                                 ("a", "b", "tie"): 4})], seed=1)


def test_the_tournament_counts_each_matrix_battle_once():
    matrix = InteractionMatrix(["a", "b", "c"], {("a", "b"): PairCounts(7, 3, 2), ("a", "c"): PairCounts(1, 1),
                                                 ("b", "c"): PairCounts(0, 4)})
    blocks = tournament_blocks(matrix, "m.json")
    assert sum(block.battles for block in blocks) == 18 and len(blocks) == 3
    rated = fit_ratings(matrix.policy_names, blocks, seed=0)
    assert rated["a"]["battles"] == 14 and (rated["a"]["wins"], rated["a"]["losses"], rated["a"]["ties"]) == (8, 4, 2)
    assert rated["c"]["wins"] == 5 and rated["c"]["battles"] == 6


MEMBERS = Population((PolicyEntry("base", "heuristic", "base"),
                      PolicyEntry("br", "checkpoint", "br.pt", options={"greedy": True})))
PLAYER = PolicyEntry("br", "checkpoint", "br.pt", options={"greedy": True})


def record(index: int, result: str = "win", opponent: str = "base", side_a: str = "br@learner") -> dict:
    return {"index": index, "policy_a": side_a, "policy_b": opponent, "result_a": result}


def test_an_evaluation_counts_its_battles_against_members_once():
    block = evaluation_block([record(0), record(1, "loss"), record(2, "tie")], PLAYER, MEMBERS, "e.json")
    assert block.outcomes == {("br", "base", "win"): 1, ("br", "base", "loss"): 1, ("br", "base", "tie"): 1}
    outsider = PolicyEntry("exploiter", "checkpoint", "x.pt")
    assert evaluation_block([record(0, side_a="exploiter@learner")], outsider, MEMBERS, "x.json") is None
    # Battles against a non-member (or the player itself) are not between two members: left out.
    mixed = [record(0), record(1, opponent="gym_leader"), record(2, opponent="br")]
    assert evaluation_block(mixed, PLAYER, MEMBERS, "e.json").outcomes == {("br", "base", "win"): 1}
    assert evaluation_block(mixed[1:], PLAYER, MEMBERS, "e.json") is None
    with pytest.raises(UsageError, match="e.json: battle index 1 appears twice"):
        evaluation_block([record(0), record(1), record(1)], PLAYER, MEMBERS, "e.json")


@pytest.mark.parametrize("records, player, message", [
    ([record(0, side_a="other@learner")], PLAYER, "played by 'other@learner', expected 'br@learner'"),
    ([record(0, result="draw")], PLAYER, "result_a 'draw'"),
    ([record(0)], PolicyEntry("br", "checkpoint", "other.pt", options={"greedy": True}), "played as checkpoint other.pt"),
    ([record(0)], PolicyEntry("br", "checkpoint", "br.pt", options={"temperature": 1.0}), "the population's member is"),
])
def test_an_evaluation_of_another_player_or_opponent_is_refused(records, player, message):
    with pytest.raises(UsageError, match=message):
        evaluation_block(records, player, MEMBERS, "e.json")


@pytest.mark.parametrize("names, blocks, message", [
    (["a", "b"], [], "no battles between members"),
    (["a"], [BattleBlock("a", {})], "at least two members"),
    (["a", "b", "c"], [BattleBlock("a-b", {("a", "b", "win"): 3})], "member\\(s\\) c played no battles"),
    (["a", "b", "c", "d"], [BattleBlock("a-b", {("a", "b", "win"): 3}), BattleBlock("c-d", {("c", "d", "tie"): 2})],
     "member\\(s\\) c, d never met a"),
])
def test_what_cannot_be_rated_is_refused_naming_it(names, blocks, message):
    with pytest.raises(UsageError, match=message):
        fit_ratings(names, blocks, seed=0)
