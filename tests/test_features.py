"""Observation, action mask and shaped reward against REAL Showdown requests, and the v2 TACTICS block
on constructed battle states (a request and protocol lines fed to a poke-env `Battle` by hand).

A small Node driver runs the real simulator (`BattleStream` of the pinned pokemon-showdown package)
in-process; Python feeds each side's protocol lines and requests into poke-env `Battle` objects,
checks the mask against the request, and sends the orders `action_to_order` produces, translated
exactly as poke-env's websocket client would (`/choose X` -> `>p1 X`). While both sides still have
to choose, every legal action is tried and undone, so every masked action is shown to be accepted.
"""

from __future__ import annotations

import json
import logging
import random
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from poke_env.battle.battle import Battle
from poke_env.data import GenData

from pokepsro.gen1 import mechanics as gen1
from pokepsro.gen1.simulator import showdown_root
from pokepsro.learning import features
from pokepsro.learning.features import (
    NUM_ACTIONS,
    OBS_DIM,
    action_mask,
    action_to_order,
    encode_battle,
    order_to_action,
    own_bench,
    potential,
)

NODE_DRIVER = """
const {BattleStream} = require(process.argv[2]);
const readline = require('readline');
const stream = new BattleStream();
(async () => {
  for await (const chunk of stream) process.stdout.write(JSON.stringify(chunk) + "\\n");
  process.stdout.write(JSON.stringify("end-of-stream") + "\\n");
})();
readline.createInterface({input: process.stdin}).on('line', line => stream.write(JSON.parse(line)));
"""

EVS = "252,252,252,252,252,252"


def pack(*sets: tuple[str, list[str]]) -> str:
    """Showdown packed team from (species, moves) pairs with full Gen 1 stat experience."""
    return "]".join(f"{species}||||{','.join(moves)}||{EVS}|||||" for species, moves in sets)


# Chosen to reach every special request: Hyper Beam (recharge), Wrap (partial trapping both ways),
# Disable (disabled moves), Explosion (faints -> forced switches), Rest/Softboiled (long battles).
TEAM_A = pack(("Tauros", ["bodyslam", "hyperbeam", "blizzard", "earthquake"]),
              ("Chansey", ["softboiled", "thunderwave", "icebeam", "seismictoss"]),
              ("Dragonite", ["wrap", "agility", "hyperbeam", "thunderwave"]),
              ("Gengar", ["hypnosis", "nightshade", "thunderbolt", "explosion"]),
              ("Starmie", ["recover", "psychic", "thunderwave", "blizzard"]),
              ("Snorlax", ["bodyslam", "rest", "amnesia", "selfdestruct"]))
TEAM_B = pack(("Alakazam", ["psychic", "recover", "thunderwave", "reflect"]),
              ("Exeggutor", ["sleeppowder", "psychic", "explosion", "stunspore"]),
              ("Zapdos", ["thunderbolt", "drillpeck", "thunderwave", "agility"]),
              ("Rhydon", ["earthquake", "rockslide", "bodyslam", "substitute"]),
              ("Hypno", ["hypnosis", "psychic", "disable", "rest"]),
              ("Victreebel", ["wrap", "razorleaf", "sleeppowder", "stunspore"]))
# Hyper Beam into an immune Ghost spends all 8 PP without ever recharging: then only Struggle is left.
STRUGGLE_A = pack(("Tauros", ["hyperbeam"]), ("Chansey", ["softboiled"]))
STRUGGLE_B = pack(("Gengar", ["rest"]), ("Snorlax", ["rest"]))

NAMES = {"p1": "alice", "p2": "bob"}


def node_available() -> bool:
    return shutil.which("node") is not None and (showdown_root() / "dist" / "sim").is_dir()


needs_node = pytest.mark.skipif(not node_available(), reason="needs node and the Showdown install (make setup)")


class SimulatorBattle:
    """One battle in the real simulator, seen by two poke-env Battle objects (one per side)."""

    def __init__(self, driver: Path, team_p1: str, team_p2: str, seed: int) -> None:
        self.process = subprocess.Popen(["node", str(driver), str(showdown_root())], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True, bufsize=1)
        self.battles = {side: Battle(f"battle-gen1ou-{seed}", name, logging.getLogger("test"), gen=1)
                        for side, name in NAMES.items()}
        self.pending: dict[str, dict] = {}
        self.errors: list[str] = []
        self.finished = False
        self._send(f'>start {{"formatid":"gen1ou","seed":[{seed},{seed + 1},{seed + 2},{seed + 3}]}}')
        self._send(f'>player p1 {{"name":"{NAMES["p1"]}","team":"{team_p1}"}}')
        self._send(f'>player p2 {{"name":"{NAMES["p2"]}","team":"{team_p2}"}}')
        self.sync()

    def close(self) -> None:
        self.process.kill()
        self.process.wait()

    def _send(self, line: str) -> None:
        self.process.stdin.write(json.dumps(line) + "\n")
        self.process.stdin.flush()

    def sync(self) -> list[str]:
        """Read until everything the simulator produced for earlier input is in; returns new errors."""
        self._send(">requestlog")
        new_errors: list[str] = []
        while True:
            chunk = json.loads(self.process.stdout.readline())
            kind, _, body = chunk.partition("\n")
            if kind in ("requesteddata", "end-of-stream"):  # the stream closes when the battle ends
                return new_errors
            if kind == "update":
                self._feed_update(body)
            elif kind == "sideupdate":
                side, _, lines = body.partition("\n")
                new_errors += self._feed_side(side, lines)
            elif kind == "end":
                self.finished = True

    def _feed_update(self, body: str) -> None:
        lines = body.split("\n")
        per_side: dict[str, list[str]] = {side: [] for side in NAMES}
        index = 0
        while index < len(lines):
            line = lines[index]
            if line.startswith("|split|"):
                owner = line.split("|")[2]
                for side in NAMES:
                    per_side[side].append(lines[index + 1] if side == owner else lines[index + 2])
                index += 3
                continue
            for side in NAMES:
                per_side[side].append(line)
            index += 1
        for side, side_lines in per_side.items():
            for line in side_lines:
                self._parse(self.battles[side], line)

    @staticmethod
    def _parse(battle: Battle, line: str) -> None:
        message = line.split("|")
        if len(message) < 2 or message[1] in ("t:", "split"):
            return
        if message[1] == "win":
            battle.won_by(message[2])
        elif message[1] == "tie":
            battle.tied()
        else:
            battle.parse_message(message)

    def _feed_side(self, side: str, lines: str) -> list[str]:
        errors = []
        for line in lines.split("\n"):
            if line.startswith("|request|"):
                request = json.loads(line[len("|request|"):])
                self.battles[side].parse_request(request)
                if not request.get("wait"):
                    self.pending[side] = request
            elif line.startswith("|error|"):
                errors.append(f"{side}: {line}")
                self.errors.append(f"{side}: {line}")
            else:
                self._parse(self.battles[side], line)
        return errors

    def choose(self, side: str, message: str) -> list[str]:
        """Send a poke-env order message ("/choose move x") the way the server relays it."""
        assert message.startswith("/choose "), message
        self._send(f">{side} {message[len('/choose '):]}")
        return self.sync()

    def undo(self, side: str) -> list[str]:
        self._send(f">{side} undo")
        return self.sync()


@pytest.fixture(scope="module")
def driver(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sim") / "driver.js"
    path.write_text(NODE_DRIVER, encoding="utf-8")
    return path


def expected_mask(battle: Battle, request: dict) -> np.ndarray:
    """The legal actions read straight off the server request (independent of poke-env's parsing)."""
    mask = np.zeros(NUM_ACTIONS, dtype=bool)
    side = request["side"]["pokemon"]
    active_entry = next(entry for entry in side if entry["active"])
    if not request.get("forceSwitch"):
        active = request["active"][0]
        moveset = active_entry["moves"]
        for move in active["moves"]:
            if not move.get("disabled"):
                mask[moveset.index(move["id"]) if move["id"] in moveset else 0] = True
        if active.get("trapped"):
            return mask
    by_ident = {entry["ident"]: entry for entry in side}
    bench = [ident for ident in battle.team if ident != active_entry["ident"]]
    for slot, ident in enumerate(bench):
        if not by_ident[ident]["condition"].endswith(" fnt"):
            mask[4 + slot] = True
    return mask


def request_kinds(request: dict) -> set[str]:
    if request.get("forceSwitch"):
        return {"force_switch"}
    active = request["active"][0]
    ids = [move["id"] for move in active["moves"]]
    kinds = {"move"}
    if ids == ["recharge"]:
        kinds.add("recharge")
    if ids == ["struggle"]:
        kinds.add("struggle")
    if ids == ["fight"]:  # wrapped by the opponent: no move of one's own this turn
        kinds.add("wrapped")
    if active.get("trapped"):
        kinds.add("trapped")
    if any(move.get("disabled") for move in active["moves"]):
        kinds.add("disabled")
    moveset = next(entry for entry in request["side"]["pokemon"] if entry["active"])["moves"]
    if len(ids) == 1 and ids[0] in moveset and len(moveset) > 1:
        kinds.add("locked")
    return kinds


def probe_every_action(sim: SimulatorBattle, side: str) -> int | None:
    """Choose and undo each legal action; the simulator must accept all of them.

    Undo is refused while a trapping/disabling effect is in play (it would leak information): the
    action just chosen then stands and is returned.
    """
    for action in np.flatnonzero(action_mask(sim.battles[side])):
        assert sim.choose(side, action_to_order(sim.battles[side], int(action)).message) == []
        refused = sim.undo(side)
        if refused:
            assert all("Can't undo" in error for error in refused), refused
            sim.errors.clear()
            return int(action)
    return None


def play(driver: Path, team_p1: str, team_p2: str, seed: int, policy: str, kinds: Counter,
         probe_all: bool = True, max_turns: int = 400) -> SimulatorBattle:
    """Play one battle with `policy` ("random" over the mask, or "first" legal action) on both sides."""
    rng = random.Random(seed)
    sim = SimulatorBattle(driver, team_p1, team_p2, seed)
    try:
        while not sim.finished and sim.battles["p1"].turn < max_turns:
            requests, sim.pending = sim.pending, {}
            assert requests, "simulator is waiting for no one"
            chosen: dict[str, int] = {}
            for side, request in requests.items():
                battle = sim.battles[side]
                mask = action_mask(battle)
                kinds.update(request_kinds(request))
                np.testing.assert_array_equal(mask, expected_mask(battle, request),
                                              err_msg=json.dumps(request)[:2000])
                assert mask.any()
                obs = encode_battle(battle)
                assert obs.shape == (OBS_DIM,) and obs.dtype == np.float32 and np.isfinite(obs).all()
                tactics = obs[features.TACTICS_START:]
                assert tactics.min() >= 0.0 and tactics.max() <= features.DAMAGE_CAP
                for action in np.flatnonzero(mask):
                    assert order_to_action(battle, action_to_order(battle, int(action))) == action
                legal = [int(a) for a in np.flatnonzero(mask)]
                chosen[side] = legal[0] if policy == "first" else rng.choice(legal)
            committed: set[str] = set()
            if probe_all and len(requests) == 2:
                for side in requests:
                    locked = probe_every_action(sim, side)
                    if locked is not None:  # that side's choice stands; probing more would run the turn
                        chosen[side] = locked
                        committed.add(side)
                        break
            for side, action in chosen.items():
                if side not in committed:
                    assert sim.choose(side, action_to_order(sim.battles[side], action).message) == []
        assert sim.errors == []
        return sim
    finally:
        sim.close()


def test_layout_constants():
    assert features.FEATURE_VERSION == "gen1-v2"
    assert features.TACTICS_START == features.GLOBAL_DIM + 12 * features.POKEMON_DIM
    assert OBS_DIM == features.TACTICS_START + 4 * 3 + 6 * 4 == features.TACTICS_START + features.TACTICS_DIM
    assert NUM_ACTIONS == 9


@needs_node
def test_masks_orders_and_observations_on_real_battles(driver):
    kinds: Counter = Counter()
    finished = 0
    for seed in range(1, 9):
        sim = play(driver, TEAM_A, TEAM_B, seed, "random", kinds)
        finished += sim.finished
    assert finished >= 6
    for kind in ("move", "force_switch", "recharge", "trapped", "disabled", "locked", "wrapped"):
        assert kinds[kind] > 0, f"no {kind} request in {dict(kinds)}"


@needs_node
def test_struggle_is_move_slot_zero(driver):
    kinds: Counter = Counter()
    play(driver, STRUGGLE_A, STRUGGLE_B, seed=5, policy="first", kinds=kinds, max_turns=12)
    assert kinds["struggle"] > 0, dict(kinds)


@needs_node
def test_observation_contents_track_the_battle(driver):
    sim = SimulatorBattle(driver, TEAM_A, TEAM_B, seed=11)
    try:
        battle = sim.battles["p1"]
        obs = encode_battle(battle)
        np.testing.assert_array_equal(obs, encode_battle(battle))  # deterministic
        own = obs[features.GLOBAL_DIM:features.GLOBAL_DIM + features.POKEMON_DIM]
        assert own[0] == 1.0 and own[1 + 128] == 1.0  # revealed; Tauros is dex #128
        opponent_start = features.GLOBAL_DIM + 6 * features.POKEMON_DIM
        first_opponent = obs[opponent_start:opponent_start + features.POKEMON_DIM]
        assert first_opponent[0] == 1.0 and first_opponent[1 + 65] == 1.0  # Alakazam #65, revealed
        unrevealed = obs[opponent_start + features.POKEMON_DIM:features.TACTICS_START]
        assert not unrevealed.any(), "unrevealed opponent slots must be all zeros"
        assert [pokemon.species for pokemon in own_bench(battle)] == \
            ["chansey", "dragonite", "gengar", "starmie", "snorlax"]
        moves_start = features.POKEMON_DIM - 4 * features.MOVE_DIM

        def own_move(slot: int, move: int) -> np.ndarray:
            start = features.GLOBAL_DIM + slot * features.POKEMON_DIM + moves_start + move * features.MOVE_DIM
            return obs[start:start + features.MOVE_DIM]

        # Dynamic part: known, PP fraction, immune, log2(effectiveness)/2, legal now.
        np.testing.assert_allclose(own_move(0, 3)[:5], [1, 1, 0, 0, 1])  # Tauros' Earthquake on Alakazam
        np.testing.assert_allclose(own_move(4, 1)[:5], [1, 1, 0, -0.5, 0])  # benched Starmie's Psychic: resisted
        assert own_move(0, 3)[-1] == pytest.approx(0.2)  # the block ends exactly at POKEMON_DIM
    finally:
        sim.close()


@needs_node
def test_potential_starts_at_zero_and_favours_the_winner_at_the_end(driver):
    """Nothing has happened at the first decision; when one side has knocked out all six, its Φ is positive (the
    loser's harm is 12, the winner's below 11.5) and the loser's negative."""
    rng = random.Random(3)
    sim = SimulatorBattle(driver, TEAM_A, TEAM_B, seed=3)
    first = {}
    try:
        while not sim.finished:
            requests, sim.pending = sim.pending, {}
            for side in requests:
                battle = sim.battles[side]
                first.setdefault(side, potential(battle))
                action = rng.choice([int(a) for a in np.flatnonzero(action_mask(battle))])
                assert sim.choose(side, action_to_order(battle, action).message) == []
    finally:
        sim.close()
    assert first == {"p1": 0.0, "p2": 0.0}
    for battle in sim.battles.values():
        assert battle.finished and (potential(battle) > 0.5 if battle.won else potential(battle) < -0.5)


@needs_node
def test_potential_terms_on_protocol_events(driver):
    """Damage, status and knock-outs move Φ by metamon's weights; a status cured and given again is worth its
    Φ difference once, where the old per-event reward paid it twice."""
    sim = SimulatorBattle(driver, TEAM_A, TEAM_B, seed=7)
    try:
        battle = sim.battles["p1"]
        target = f"p2a: {battle.opponent_active_pokemon.name}"
        start = potential(battle)
        battle.parse_message(["", "-damage", target, "40/100 par"])
        assert potential(battle) - start == pytest.approx(0.6 + 0.5)  # 60 % damage dealt, paralysis given
        cycle = [potential(battle)]
        battle.parse_message(["", "-curestatus", target, "par"])
        cycle.append(potential(battle))
        battle.parse_message(["", "-status", target, "par"])
        cycle.append(potential(battle))
        assert np.diff(cycle).tolist() == pytest.approx([-0.5, 0.5])  # at γ = 1 the cycle earns 0, not +0.5
        battle.parse_message(["", "-damage", target, "0 fnt"])
        battle.parse_message(["", "faint", target])
        assert potential(battle) - start == pytest.approx(1.0 + 1.0)  # all its HP plus the knock-out
    finally:
        sim.close()


# -- v2 TACTICS on constructed battle states ------------------------------------------------------------------

DEX = GenData.from_gen(1).pokedex
MOVE_DATA = GenData.from_gen(1).moves


def request_entry(species: str, moves: list[str], active: bool, condition: str | None) -> dict:
    """A request's side entry with the max-investment stats Showdown would send for an OU set."""
    base = DEX[species.lower()]["baseStats"]
    stats = {stat: gen1.stat_from_base(base[stat], 100) for stat in ("atk", "def", "spa", "spd", "spe")}
    hp = gen1.stat_from_base(base["hp"], 100, is_hp=True)
    return {"ident": f"p1: {species}", "details": species, "condition": condition or f"{hp}/{hp}",
            "active": active, "stats": stats, "moves": moves, "baseAbility": "noability", "item": "",
            "pokeball": "pokeball"}


def constructed_battle(own: list[tuple[str, list[str]]], opponent: str, revealed: tuple[str, ...] = (),
                       opponent_lines: tuple[list[str], ...] = (), active_condition: str | None = None) -> Battle:
    """Turn 1 of a battle: own team (the first one active), the opponent's active Pokémon, the moves it has
    revealed (used on our active), then `opponent_lines` (more protocol lines), then the move request."""
    battle = Battle("battle-gen1ou-1", "alice", logging.getLogger("test"), gen=1)
    battle.player_role = "p1"
    active = own[0][0]
    battle.parse_message(["", "switch", f"p1a: {active}", active, "100/100"])
    battle.parse_message(["", "switch", f"p2a: {opponent}", opponent, "100/100"])
    for move_id in revealed:
        battle.parse_message(["", "move", f"p2a: {opponent}", MOVE_DATA[move_id]["name"], f"p1a: {active}"])
    for line in opponent_lines:
        battle.parse_message(["", *line])
    battle.parse_message(["", "turn", "1"])
    battle.parse_request(move_request(own, active_condition))
    return battle


def move_request(own: list[tuple[str, list[str]]], active_condition: str | None = None) -> dict:
    moves = [{"move": MOVE_DATA[m]["name"], "id": m, "pp": 16, "maxpp": 16, "target": "normal", "disabled": False}
             for m in own[0][1]]
    side = [request_entry(species, moveset, slot == 0, active_condition if slot == 0 else None)
            for slot, (species, moveset) in enumerate(own)]
    return {"active": [{"moves": moves}], "side": {"name": "alice", "id": "p1", "pokemon": side}, "rqid": 1}


def move_tactics(obs: np.ndarray, slot: int) -> dict[str, float]:
    start = features.TACTICS_START + slot * len(features.MOVE_TACTICS)
    return dict(zip(features.MOVE_TACTICS, obs[start:start + len(features.MOVE_TACTICS)].tolist()))


def matchup_tactics(obs: np.ndarray, slot: int) -> dict[str, float]:
    """slot 0 = the own active Pokémon (staying in), 1 + j = bench slot j (switch action 4 + j)."""
    start = features.STAY_TACTICS_START + slot * len(features.MATCHUP_TACTICS)
    return dict(zip(features.MATCHUP_TACTICS, obs[start:start + len(features.MATCHUP_TACTICS)].tolist()))


TAUROS = ("Tauros", ["bodyslam", "hyperbeam", "blizzard", "earthquake"])


def test_move_damage_follows_the_damage_maths_and_type_chart():
    battle = constructed_battle([TAUROS], "Rhydon")
    obs = encode_battle(battle)
    slots = [move_tactics(obs, slot) for slot in range(4)]
    body_slam, blizzard = slots[0], slots[2]  # Normal is resisted by Rock; Ice is super effective on Ground
    assert blizzard["damage"] > 2 * body_slam["damage"] > 0
    tauros, rhydon = battle.active_pokemon, battle.opponent_active_pokemon
    for slot, move_id in enumerate(TAUROS[1]):
        hit = gen1.turn_damage(gen1.move_info(tauros.moves[move_id]), gen1.combatant(tauros), gen1.combatant(rhydon))
        expected = min(hit / gen1.max_hp(rhydon), features.DAMAGE_CAP)
        assert slots[slot]["damage"] == pytest.approx(expected, rel=1e-6)
        assert slots[slot]["ko_chance"] == 0.0


def test_ko_chance_is_the_accuracy_of_a_move_that_faints_the_target():
    battle = constructed_battle([TAUROS], "Rhydon", opponent_lines=(["-damage", "p2a: Rhydon", "20/100"],))
    obs = encode_battle(battle)
    blizzard, earthquake = move_tactics(obs, 2), move_tactics(obs, 3)
    assert blizzard["ko_chance"] == pytest.approx(0.9)  # Gen 1 Blizzard: 90 % accurate
    assert earthquake["ko_chance"] == pytest.approx(1.0)
    assert move_tactics(obs, 0)["ko_chance"] == 0.0  # resisted Body Slam leaves it standing
    low = constructed_battle([TAUROS], "Rhydon", revealed=("earthquake",), active_condition="60/353")
    stay = matchup_tactics(encode_battle(low), 0)  # the other way round: Earthquake knocks our Tauros out
    assert stay["damage_taken"] < 0.5 and stay["taken_of_current_hp"] == 1.0


def test_moves_first_reads_speed_boosts_paralysis_and_priority():
    def first(own: tuple[str, list[str]], opponent: str, **kwargs) -> list[float]:
        obs = encode_battle(constructed_battle([own], opponent, **kwargs))
        return [move_tactics(obs, slot)["moves_first"] for slot in range(len(own[1]))]

    assert first(TAUROS, "Rhydon") == [1.0] * 4  # base Speed 110 against 40
    assert first(TAUROS, "Tauros") == [0.5] * 4  # a tie
    snorlax = ("Snorlax", ["bodyslam", "quickattack"])
    assert first(snorlax, "Jolteon") == [0.0, 1.0]  # slower, but Quick Attack has priority
    assert first(TAUROS, "Jolteon", opponent_lines=(["-status", "p2a: Jolteon", "par"],)) == [1.0] * 4
    assert first(TAUROS, "Rhydon", active_condition="353/353 par") == [0.0] * 4  # a quarter of 318 < 178
    assert first(snorlax, "Jolteon", opponent_lines=(["-unboost", "p2a: Jolteon", "spe", "6"],)) == [1.0, 1.0]
    obs = encode_battle(constructed_battle([TAUROS], "Rhydon"))
    assert matchup_tactics(obs, 0)["outspeeds"] == 1.0


def test_bench_matchups_use_the_revealed_moves():
    own = [TAUROS, ("Zapdos", ["thunderbolt", "drillpeck"]), ("Gengar", ["thunderbolt", "nightshade"]),
           ("Starmie", ["surf", "psychic"])]
    obs = encode_battle(constructed_battle(own, "Rhydon", revealed=("earthquake",)))
    stay, zapdos, gengar, starmie = (matchup_tactics(obs, slot) for slot in range(4))
    assert zapdos["damage_taken"] == zapdos["taken_of_current_hp"] == 0.0  # Flying: immune to Earthquake
    assert gengar["damage_taken"] > 2 * stay["damage_taken"] > 0 and starmie["damage_taken"] > 0  # Poison: 2x
    assert gengar["taken_of_current_hp"] == 1.0
    assert starmie["damage_dealt"] == features.DAMAGE_CAP  # 4x Surf
    rhydon_hp = gen1.stat_from_base(DEX["rhydon"]["baseStats"]["hp"], 100, is_hp=True)
    assert gengar["damage_dealt"] == pytest.approx(100 / rhydon_hp)  # Night Shade: the level in HP
    assert zapdos["outspeeds"] == gengar["outspeeds"] == starmie["outspeeds"] == 1.0
    assert not obs[features.STAY_TACTICS_START + 4 * len(features.MATCHUP_TACTICS):].any()  # empty bench slots


def test_unrevealed_threats_are_stab_stand_ins():
    own = [TAUROS, ("Zapdos", ["thunderbolt", "drillpeck"])]
    hidden = matchup_tactics(encode_battle(constructed_battle(own, "Rhydon")), 1)
    assert hidden["damage_taken"] > 0  # a base-power-80 Rock move hits Zapdos super effectively
    only_status = matchup_tactics(encode_battle(constructed_battle(own, "Rhydon", revealed=("substitute",))), 1)
    assert only_status["damage_taken"] == hidden["damage_taken"]  # status moves threaten nothing


def test_encoding_is_cached_per_request():
    battle = constructed_battle([TAUROS, ("Zapdos", ["thunderbolt"])], "Rhydon")
    obs, mask = encode_battle(battle), action_mask(battle)
    assert encode_battle(battle) is obs and action_mask(battle) is mask
    battle.parse_message(["", "-damage", "p2a: Rhydon", "50/100"])
    battle.parse_message(["", "turn", "2"])  # same request object, new turn
    after_turn = encode_battle(battle)
    assert after_turn is not obs and not np.array_equal(after_turn, obs)
    battle.parse_request(move_request([TAUROS, ("Zapdos", ["thunderbolt"])]))  # a new request
    fresh = encode_battle(battle)
    assert fresh is not after_turn and action_mask(battle) is not mask
    np.testing.assert_array_equal(fresh, after_turn)
    other = constructed_battle([TAUROS, ("Zapdos", ["thunderbolt"])], "Rhydon")
    assert encode_battle(other) is not obs  # one cache entry per battle object


def test_old_feature_version_checkpoint_is_refused(tmp_path):
    from pokepsro.core.errors import UsageError
    from pokepsro.learning.model import build_model, save_checkpoint
    from pokepsro.learning.neural import shared_policy

    tiny = {"architecture": "residual_mlp", "width": 8, "depth": 1, "expansion": 1}
    path = save_checkpoint(tmp_path / "v1.pt", build_model(tiny, 4689), model_config=tiny, obs_dim=4689,
                           feature_version="gen1-v1", train_config={}, epoch=1, metrics={})
    with pytest.raises(UsageError) as refused:
        shared_policy(path, device="cpu")
    message = str(refused.value)
    assert "\n" not in message
    assert "checkpoint" in message and "gen1-v1" in message and "gen1-v2" in message and "retrain" in message
