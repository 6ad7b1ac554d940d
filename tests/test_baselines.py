"""Gen 1 knowledge and heuristic baselines: type chart, damage estimate, move choice, real battles."""

from __future__ import annotations

import logging
import random
from collections import Counter

import pytest
from poke_env import AccountConfiguration
from poke_env.battle.battle import Battle
from poke_env.battle.move import Move
from poke_env.battle.move_category import MoveCategory
from poke_env.battle.pokemon import Pokemon
from poke_env.battle.pokemon_type import PokemonType as T
from poke_env.data import GenData, to_id_str

from pokepsro.battles.api import run_battles
from pokepsro.battles.records import summarize_records
from pokepsro.battles.spec import schedule_matchup
from pokepsro.core.errors import UsageError
from pokepsro.gen1 import mechanics as gen1
from pokepsro.gen1.baselines import BASELINES, Gen1BossAI, GymLeader, baseline_class

# ---------------------------------------------------------------------------------------------- type chart


def read(move: Move, attacker: Pokemon, defender: Pokemon) -> tuple:
    """The arguments of gen1's damage estimates (`hit_damage`, `turn_damage`, `hit_ko_chance`), read once."""
    return gen1.move_info(move), gen1.combatant(attacker), gen1.combatant(defender)


def mon(species: str) -> Pokemon:
    """A full-HP Pokémon as the opponent's side shows it (HP in percent)."""
    pokemon = Pokemon(gen=1, species=species)
    pokemon.set_hp_status("100/100")
    return pokemon


@pytest.mark.parametrize(
    ("move_type", "defender", "expected"),
    [
        (T.GHOST, [T.PSYCHIC], 0.0),  # the cartridge bug
        (T.PSYCHIC, [T.GHOST], 1.0),
        (T.ICE, [T.FIRE], 1.0),
        (T.FIRE, [T.ICE], 2.0),
        (T.BUG, [T.POISON], 2.0),
        (T.POISON, [T.BUG], 2.0),
        (T.BUG, [T.GHOST], 0.5),
        (T.NORMAL, [T.GHOST], 0.0),
        (T.GHOST, [T.NORMAL], 0.0),
        (T.ELECTRIC, [T.GROUND], 0.0),
        (T.GROUND, [T.FLYING], 0.0),
        (T.DRAGON, [T.DRAGON], 2.0),
        (T.GROUND, [T.GHOST, T.POISON], 2.0),  # Gengar
        (T.ICE, [T.DRAGON, T.FLYING], 4.0),  # Dragonite
        (T.WATER, [T.ROCK, T.GROUND], 4.0),  # Golem
        (T.ELECTRIC, [T.WATER, T.FLYING], 4.0),  # Gyarados
        (T.PSYCHIC, [T.PSYCHIC, T.WATER], 0.5),
        (T.NORMAL, [T.NORMAL, None], 1.0),
        (T.THREE_QUESTION_MARKS, [T.GHOST], 1.0),
    ],
)
def test_gen1_type_effectiveness(move_type, defender, expected):
    assert gen1.type_effectiveness(move_type, defender) == expected


def test_type_chart_has_exactly_the_15_gen1_types_and_the_usual_immunities_only():
    assert len(gen1.TYPE_CHART) == 15
    assert all(len(row) == 15 for row in gen1.TYPE_CHART.values())
    assert T.DARK not in gen1.TYPE_CHART and T.STEEL not in gen1.TYPE_CHART
    immunities = {(a, d) for a, row in gen1.TYPE_CHART.items() for d, m in row.items() if m == 0}
    assert immunities == {(T.NORMAL, T.GHOST), (T.FIGHTING, T.GHOST), (T.GHOST, T.NORMAL),
                          (T.GHOST, T.PSYCHIC), (T.ELECTRIC, T.GROUND), (T.GROUND, T.FLYING)}


def test_physical_special_split_is_by_type_not_by_modern_category():
    def category(move_id):
        return gen1.move_category(Move(move_id, gen=1))

    # Gust and Hyper Beam are "Special" in the shipped data (modern split); Gen 1 makes them physical.
    assert GenData.from_gen(1).moves["hyperbeam"]["category"] == "Special"
    assert category("hyperbeam") is MoveCategory.PHYSICAL
    assert category("gust") is MoveCategory.PHYSICAL
    assert category("bodyslam") is MoveCategory.PHYSICAL
    assert category("earthquake") is MoveCategory.PHYSICAL
    for special in ("thunderbolt", "psychic", "icebeam", "surf", "fireblast", "razorleaf", "dragonrage"):
        assert category(special) is MoveCategory.SPECIAL, special
    assert category("thunderwave") is MoveCategory.STATUS
    assert gen1.stab_multiplier(T.PSYCHIC, [T.PSYCHIC]) == 1.5
    assert gen1.stab_multiplier(T.NORMAL, [T.PSYCHIC, None]) == 1.0


def test_stats_from_base_match_the_simulator():
    # Values the real Showdown server sent in a gen1ou request for max-DV, max-stat-exp sets.
    assert gen1.stat_from_base(250, 100, is_hp=True) == 703  # Chansey HP
    assert gen1.stat_from_base(135, 100) == 368  # Alakazam Special
    assert gen1.stat_from_base(110, 100) == 318  # Tauros Speed
    alakazam = GenData.from_gen(1).pokedex["alakazam"]["baseStats"]
    assert alakazam["spa"] == alakazam["spd"] == 135  # one Special stat


def test_multi_hit_and_fixed_damage():
    assert gen1.expected_hits(Move("pinmissile", gen=1)) == pytest.approx(3.0)
    assert gen1.expected_hits(Move("doublekick", gen=1)) == 2.0
    assert gen1.expected_hits(Move("bodyslam", gen=1)) == 1.0
    alakazam, chansey, gengar = (mon(s) for s in ("alakazam", "chansey", "gengar"))
    seismic = Move("seismictoss", gen=1)
    assert gen1.hit_damage(*read(seismic, alakazam, chansey)) == 100.0
    assert gen1.hit_damage(*read(seismic, alakazam, gengar)) == 0.0  # Ghost is immune to Fighting
    assert gen1.hit_damage(*read(Move("dragonrage", gen=1), alakazam, chansey)) == 40.0


def test_expected_damage_orders_moves_sensibly():
    tauros, exeggutor, gengar = (mon(s) for s in ("tauros", "exeggutor", "gengar"))
    blizzard, bodyslam, hyperbeam = (Move(m, gen=1) for m in ("blizzard", "bodyslam", "hyperbeam"))
    # Super-effective Blizzard beats neutral STAB Body Slam on Exeggutor...
    assert gen1.turn_damage(*read(blizzard, tauros, exeggutor)) > gen1.turn_damage(*read(bodyslam, tauros, exeggutor))
    # ...Normal moves do nothing to Gengar, and Hyper Beam's recharge halves its value per turn.
    assert gen1.turn_damage(*read(bodyslam, tauros, gengar)) == 0.0
    assert gen1.turn_damage(*read(hyperbeam, tauros, exeggutor)) == pytest.approx(
        gen1.hit_damage(*read(hyperbeam, tauros, exeggutor)) * 0.9 / 2)
    # A Tauros Body Slam on a full-HP Exeggutor is roughly a third of its HP, not a KO.
    fraction = gen1.turn_damage(*read(bodyslam, tauros, exeggutor)) / gen1.max_hp(exeggutor)
    assert 0.2 < fraction < 0.45
    assert gen1.hit_ko_chance(*read(bodyslam, tauros, exeggutor)) == 0.0
    assert gen1.turn_damage(*read(Move("amnesia", gen=1), tauros, exeggutor)) == 0.0


def test_status_and_move_kinds():
    gengar, chansey, dugtrio = (mon(s) for s in ("gengar", "chansey", "dugtrio"))
    toxic, thunderwave, bodyslam = (Move(m, gen=1) for m in ("toxic", "thunderwave", "bodyslam"))
    assert gen1.can_inflict_status(toxic, chansey)
    assert not gen1.can_inflict_status(toxic, gengar)  # Poison types cannot be poisoned
    assert not gen1.can_inflict_status(thunderwave, dugtrio)  # Ground is immune to Thunder Wave
    assert not gen1.can_inflict_status(bodyslam, chansey)  # a damaging move is not a status move
    chansey.status = "par"
    assert not gen1.can_inflict_status(thunderwave, chansey)
    assert gen1.is_healing_move(Move("softboiled", gen=1)) and gen1.is_healing_move(Move("rest", gen=1))
    assert gen1.is_setup_move(Move("swordsdance", gen=1)) and gen1.is_setup_move(Move("amnesia", gen=1))
    assert not gen1.is_setup_move(Move("growl", gen=1)) and not gen1.is_setup_move(Move("reflect", gen=1))


# ------------------------------------------------------------------------------ constructed battle states

MOVESETS = {
    "alakazam": ["psychic", "seismictoss", "thunderwave", "recover"],
    "chansey": ["icebeam", "thunderbolt", "thunderwave", "softboiled"],
    "snorlax": ["bodyslam", "amnesia", "blizzard", "rest"],
    "tauros": ["bodyslam", "hyperbeam", "blizzard", "earthquake"],
    "exeggutor": ["sleeppowder", "psychic", "explosion", "stunspore"],
    "starmie": ["surf", "blizzard", "thunderwave", "recover"],
    "rhydon": ["earthquake", "rockslide", "bodyslam", "substitute"],
    "gyarados": ["surf", "hyperbeam", "blizzard", "thunderbolt"],
}


def _request_pokemon(species: str, *, active: bool, hp_fraction: float) -> dict:
    base = GenData.from_gen(1).pokedex[species]["baseStats"]
    max_hp = gen1.stat_from_base(base["hp"], 100, is_hp=True)
    hp = round(max_hp * hp_fraction)
    name = GenData.from_gen(1).pokedex[species]["name"]
    return {
        "ident": f"p1: {name}", "details": name, "active": active,
        "condition": f"{hp}/{max_hp}" if hp else "0 fnt",
        "stats": {stat: gen1.stat_from_base(base[stat], 100) for stat in ("atk", "def", "spa", "spd", "spe")},
        "moves": MOVESETS[species], "baseAbility": "noability", "item": "", "pokeball": "pokeball",
    }


def make_battle(team: list[str], opponent: str, *, hp: dict[str, float] | None = None,
                opponent_hp: int = 100, opponent_status: str | None = None,
                opponent_moves: tuple[str, ...] = (), active_moves: list[str] | None = None,
                force_switch: bool = False) -> Battle:
    """A gen1ou battle as poke-env sees it after a real request: team[0] is our active Pokémon."""
    hp = hp or {}
    battle = Battle("battle-gen1ou-1", "tester", logging.getLogger("test"), gen=1)
    request = {"side": {"name": "tester", "id": "p1", "pokemon": [
        _request_pokemon(species, active=index == 0, hp_fraction=hp.get(species, 1.0))
        for index, species in enumerate(team)]}, "rqid": 1}
    if force_switch:
        request["forceSwitch"] = [True]
    else:
        moves = MOVESETS[team[0]] if active_moves is None else active_moves
        request["active"] = [{"moves": [{"move": m, "id": m, "pp": 10, "maxpp": 10, "disabled": False}
                                        for m in moves]}]
    battle.parse_request(request)
    name = GenData.from_gen(1).pokedex[opponent]["name"]
    battle.parse_message(["", "switch", f"p2a: {name}", name, f"{opponent_hp}/100"])
    if opponent_status:
        battle.parse_message(["", "-status", f"p2a: {name}", opponent_status])
    for move in opponent_moves:
        battle.opponent_active_pokemon._add_move(move)
    return battle


def make_player(name: str, seed: int = 0):
    return BASELINES[name](battle_format="gen1ou", start_listening=False, seed=seed)


def choices(player, battle, n: int = 400) -> Counter:
    """How often each order (move id or switch target species) is chosen."""
    counts: Counter = Counter()
    for _ in range(n):
        order = player.choose_move(battle).order
        counts[order.id if isinstance(order, Move) else to_id_str(order.species)] += 1
    return counts


def test_boss_ai_prefers_super_effective_over_resisted_and_useless_status():
    # Exeggutor is paralysed: Thunder Wave is useless, Surf is resisted, Blizzard is super-effective.
    battle = make_battle(["starmie", "chansey"], "exeggutor", opponent_status="par")
    assert choices(make_player("gen1_boss_ai"), battle, 100) == Counter({"blizzard": 100})


def test_boss_ai_uses_status_on_an_unstatused_target():
    # Against Starmie both attacks are resisted, so Thunder Wave on the healthy target wins.
    battle = make_battle(["alakazam", "chansey"], "starmie")
    assert choices(make_player("gen1_boss_ai"), battle, 100) == Counter({"thunderwave": 100})


def test_boss_ai_random_among_equally_scored_moves():
    # Exeggutor healthy: super-effective Blizzard and Thunder Wave score the same, and both get played.
    battle = make_battle(["starmie", "chansey"], "exeggutor")
    counts = choices(make_player("gen1_boss_ai"), battle, 200)
    assert set(counts) == {"blizzard", "thunderwave"} and min(counts.values()) > 50


def test_boss_ai_forced_switch_sends_the_first_available_slot():
    battle = make_battle(["alakazam", "chansey", "snorlax", "tauros"], "starmie",
                         hp={"alakazam": 0.0, "chansey": 0.0}, force_switch=True)
    assert [to_id_str(m.species) for m in battle.available_switches] == ["snorlax", "tauros"]
    assert choices(make_player("gen1_boss_ai"), battle, 50) == Counter({"snorlax": 50})


def test_gym_leader_forced_switch_picks_the_best_type_matchup():
    battle = make_battle(["starmie", "gyarados", "chansey", "rhydon", "tauros"], "jolteon",
                         hp={"starmie": 0.0}, force_switch=True)
    assert choices(make_player("gym_leader"), battle, 50) == Counter({"rhydon": 50})


def test_gym_leader_emergency_switch_out_of_a_very_bad_matchup():
    battle = make_battle(["gyarados", "chansey", "rhydon"], "jolteon", opponent_moves=("thunderbolt",))
    assert choices(make_player("gym_leader"), battle, 50) == Counter({"rhydon": 50})


def test_gym_leader_stays_in_a_merely_unfavourable_matchup():
    # Starmie is weak to Electric but not doomed: no emergency, even with Rhydon on the bench.
    battle = make_battle(["starmie", "rhydon"], "jolteon", opponent_moves=("thunderbolt",))
    counts = choices(make_player("gym_leader"), battle, 50)
    assert "rhydon" not in counts and set(counts) <= set(MOVESETS["starmie"])


def test_gym_leader_heals_about_three_quarters_of_the_time_when_low():
    battle = make_battle(["alakazam", "chansey"], "chansey", hp={"alakazam": 0.2})
    counts = choices(make_player("gym_leader"), battle)
    assert 0.65 < counts["recover"] / 400 < 0.85
    healthy = make_battle(["alakazam", "chansey"], "chansey", hp={"alakazam": 0.6})
    assert "recover" not in choices(make_player("gym_leader"), healthy, 100)


def test_gym_leader_sets_up_about_half_the_time_when_healthy():
    battle = make_battle(["snorlax", "chansey"], "chansey")
    counts = choices(make_player("gym_leader"), battle)
    assert 0.4 < counts["amnesia"] / 400 < 0.6
    assert set(counts) == {"amnesia", "bodyslam"}  # otherwise the highest expected damage
    hurt = make_battle(["snorlax", "chansey"], "chansey", hp={"snorlax": 0.5})
    assert choices(make_player("gym_leader"), hurt, 100) == Counter({"bodyslam": 100})


def test_gym_leader_takes_the_sure_ko_over_the_bigger_hit():
    tauros, exeggutor = mon("tauros"), mon("exeggutor")
    blizzard, bodyslam = Move("blizzard", gen=1), Move("bodyslam", gen=1)
    assert gen1.turn_damage(*read(blizzard, tauros, exeggutor)) > gen1.turn_damage(*read(bodyslam, tauros, exeggutor))
    full = make_battle(["tauros", "chansey"], "exeggutor")
    assert choices(make_player("gym_leader"), full, 50) == Counter({"blizzard": 50})
    low = make_battle(["tauros", "chansey"], "exeggutor", opponent_hp=15)
    assert choices(make_player("gym_leader"), low, 50) == Counter({"bodyslam": 50})  # 100 % accurate KO


def test_gym_leader_keeps_explosion_for_when_the_user_is_nearly_spent():
    exeggutor, snorlax = mon("exeggutor"), mon("snorlax")
    explosion, psychic = Move("explosion", gen=1), Move("psychic", gen=1)
    assert gen1.turn_damage(*read(explosion, exeggutor, snorlax)) > gen1.turn_damage(*read(psychic, exeggutor, snorlax))
    assert gen1.hit_ko_chance(*read(explosion, exeggutor, snorlax)) == 0.0
    healthy = make_battle(["exeggutor", "chansey"], "snorlax")
    assert choices(make_player("gym_leader"), healthy, 50) == Counter({"psychic": 50})
    spent = make_battle(["exeggutor", "chansey"], "snorlax", hp={"exeggutor": 0.2})
    assert choices(make_player("gym_leader"), spent, 50) == Counter({"explosion": 50})


@pytest.mark.parametrize("name", list(BASELINES))
@pytest.mark.parametrize("only_move", ["recharge", "struggle"])
def test_every_baseline_plays_the_only_legal_move(name, only_move):
    battle = make_battle(["tauros"], "gengar", active_moves=[only_move])
    for seed in range(5):
        order = make_player(name, seed).choose_move(battle)
        assert isinstance(order.order, Move) and order.order.id == only_move
    assert order.message == ("/choose move 1" if only_move == "recharge" else "/choose move struggle")


@pytest.mark.parametrize("name", list(BASELINES))
def test_every_baseline_orders_are_legal_in_ordinary_and_forced_states(name):
    player = make_player(name)
    states = [
        make_battle(["tauros", "chansey", "snorlax"], "gengar"),
        make_battle(["tauros", "chansey", "snorlax"], "exeggutor", hp={"tauros": 0.0}, force_switch=True),
        make_battle(["tauros"], "chansey", opponent_hp=1),
    ]
    for battle in states:
        legal = {order.message for order in battle.valid_orders}
        for _ in range(30):
            assert player.choose_move(battle).message in legal
    assert player.decision_errors == 0


def test_a_failing_heuristic_falls_back_to_a_legal_random_order_and_is_counted(caplog):
    class BrokenLeader(GymLeader):
        def decide(self, battle):
            raise RuntimeError("heuristic bug")

    player = BrokenLeader(battle_format="gen1ou", start_listening=False, seed=0)
    battle = make_battle(["tauros", "chansey"], "gengar")
    order = player.choose_move(battle)
    assert order.message in {legal.message for legal in battle.valid_orders}
    assert player.decision_errors == 1 and "heuristic bug" in caplog.text


def test_seeded_players_are_reproducible_and_independent_of_the_global_rng():
    battle = make_battle(["snorlax", "chansey"], "chansey")  # Amnesia or Body Slam: a coin flip each turn

    def run(seed: int, global_seed: int) -> list[str]:
        random.seed(global_seed)
        player = make_player("gym_leader", seed)
        return [player.choose_move(battle).message for _ in range(50)]

    assert run(7, global_seed=1) == run(7, global_seed=2)
    assert run(7, global_seed=1) != run(8, global_seed=1)


def test_registry_and_constructor_contract():
    assert list(BASELINES) == ["random", "max_base_power", "simple_heuristics", "gen1_boss_ai", "gym_leader"]
    assert baseline_class("gym_leader") is GymLeader
    with pytest.raises(UsageError, match="unknown baseline 'gym'.*gym_leader"):
        baseline_class("gym")
    with pytest.raises(UsageError, match="gen1"):
        Gen1BossAI(battle_format="gen9ou", start_listening=False)
    # Arbitrary poke-env Player keywords pass through.
    player = GymLeader(AccountConfiguration("gymtester", None), battle_format="gen1ou",
                       max_concurrent_battles=3, start_listening=False, team=None, seed=1)
    assert player.format == "gen1ou" and player.username == "gymtester"


# ---------------------------------------------------------------------------------------- real battles

BATTLES_PER_PAIR = 60


def recording_factory(cls, made: list):
    """A player factory for the arena that keeps the Players it makes, to inspect them afterwards."""
    def factory(**kwargs):
        player = cls(**kwargs)
        made.append(player)
        return player
    return factory


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", ["max_base_power", "simple_heuristics", "gen1_boss_ai", "gym_leader"])
def test_baseline_beats_random_in_real_gen1ou_battles(showdown_server, team_set, name):
    made: list = []
    players = {name: recording_factory(BASELINES[name], made),
               "random": recording_factory(BASELINES["random"], made)}
    specs = schedule_matchup(name, "random", BATTLES_PER_PAIR, team_set, seed=11)
    records = run_battles(specs, players, server=showdown_server, concurrency=8, progress=False)
    summary = summarize_records(records)
    assert summary["battles"] == BATTLES_PER_PAIR
    assert summary["ends"] == {"normal": BATTLES_PER_PAIR}  # no turn-limit or wall-time forfeits
    assert summary["win_rate"] >= 0.8, f"{name} scored {summary['win_rate']:.2f} against random: {summary}"
    assert made and all(player.decision_errors == 0 for player in made)
