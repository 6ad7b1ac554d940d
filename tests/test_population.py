"""Population files and the registry that turns entries into poke-env Players."""

from __future__ import annotations

import json

import numpy as np
import pytest
from poke_env.player import Player

from pokepsro.battles.spec import sample_members
from pokepsro.core.errors import UsageError
from pokepsro.metagame.mixture import load_mixture, mixture_entry
from pokepsro.metagame.population import PolicyEntry, Population, entry_from_argument, heuristic_entry, player_factory
from pokepsro.metagame.solver import write_meta_strategy


def write_population(path, policies):
    path.write_text(json.dumps({"policies": policies}))
    return path


def test_round_trip_keeps_order_and_fields(tmp_path):
    population = Population((heuristic_entry("random"), heuristic_entry("gym_leader"),
                             PolicyEntry("mine", "player", "poke_env.player:RandomPlayer", "a user Player")))
    population.save(tmp_path / "population.json")
    loaded = Population.load(tmp_path / "population.json")
    assert loaded == population
    assert loaded.names == ["random", "gym_leader", "mine"]


@pytest.mark.parametrize("policies, message", [
    ([], "empty"),
    ([{"name": "a", "kind": "heuristic", "spec": "random"}, {"name": "a", "kind": "heuristic", "spec": "random"}],
     "duplicate policy name 'a'"),
    ([{"name": "a", "kind": "wizard", "spec": "x"}], "unknown kind 'wizard'"),
])
def test_bad_population_files_are_rejected(tmp_path, policies, message):
    with pytest.raises(UsageError, match=message):
        Population.load(write_population(tmp_path / "p.json", policies))


def test_malformed_population_file_names_the_file(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    with pytest.raises(UsageError, match="broken.json"):
        Population.load(path)


@pytest.mark.parametrize("entry, message", [
    (PolicyEntry("x", "heuristic", "nosuchbot"), "unknown baseline 'nosuchbot'"),
    (PolicyEntry("x", "player", "nosuchmodule:Bot"), "cannot import player"),
    (PolicyEntry("x", "player", "json:JSONDecoder"), "not a poke-env Player"),
    (PolicyEntry("x", "checkpoint", "/nonexistent/epoch_1.pt"), "checkpoint not found: /nonexistent/epoch_1.pt"),
])
def test_unresolvable_specs_are_clear_errors(entry, message):
    with pytest.raises(UsageError, match=message):
        player_factory(entry)


def test_any_poke_env_player_class_can_join(tmp_path):
    factory = player_factory(entry_from_argument("poke_env.player:MaxBasePowerPlayer"))
    player = factory(battle_format="gen1ou", start_listening=False)
    assert isinstance(player, Player)


def test_cli_arguments_resolve_to_entries():
    assert entry_from_argument("gym_leader").kind == "heuristic"
    assert entry_from_argument("runs/ckpts/epoch_3.pt").kind == "checkpoint"
    mixture = entry_from_argument("mixture:pop.json:sigma.json")
    assert mixture.kind == "mixture" and mixture.spec == {"population": "pop.json", "meta_strategy": "sigma.json"}
    with pytest.raises(UsageError, match="unknown policy 'zzz'"):
        entry_from_argument("zzz")


def test_mixture_checks_sigma_against_its_population(tmp_path):
    population = Population((heuristic_entry("random"), heuristic_entry("max_base_power")))
    population.save(tmp_path / "population.json")
    write_meta_strategy(tmp_path / "sigma.json", ["random", "max_base_power"], [0.25, 0.75])
    members, sigma = load_mixture(mixture_entry("m", tmp_path / "population.json", tmp_path / "sigma.json"))
    assert members.names == ["random", "max_base_power"] and np.allclose(sigma, [0.25, 0.75])
    write_meta_strategy(tmp_path / "short.json", ["random"], [1.0])
    with pytest.raises(UsageError, match="covers 1 policies but the population has 2"):
        load_mixture(mixture_entry("m", tmp_path / "population.json", tmp_path / "short.json"))


def test_members_are_sampled_from_sigma_reproducibly():
    names, sigma = ["a", "b", "c"], [0.2, 0.8, 0.0]
    draws = sample_members(names, sigma, 5000, seed=3)
    assert draws == sample_members(names, sigma, 5000, seed=3)
    assert "c" not in draws
    assert abs(draws.count("b") / 5000 - 0.8) < 0.03
