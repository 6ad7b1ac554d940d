"""The online PPO oracle: rounds of battles against opponents drawn per battle from σ, each followed by a PPO
update of the learner's weights, on one simulator session that stays up between rounds.

The learner plays side A with its current weights, sampling at the config's temperature (the recorded
behaviour log-probs are the PPO ratio's denominator); only its own decisions are recorded. After every round the job
saves the policy (`ckpts/round_K.pt`) and then, as its one commit point, `state.pt` (round, optimizer,
metrics rows, battle records): a killed job resumes from the last committed round, and replays of a round
reproduce it because every draw of a round is seeded from (seed, learner, round).

Every `greedy_eval_every_rounds` rounds (and at round 0 and the last) the learner also plays greedily, as every
result measures it, against σ (`GreedyEvaluation`): rows in `greedy_eval.csv`, committed with their round.
"""

from __future__ import annotations

import copy
import io
import json
import time
from pathlib import Path
from typing import Any

import torch

from pokepsro.battles.backend import progress_bar
from pokepsro.battles.records import summarize_results
from pokepsro.battles.spec import learner_key, schedule_against_mixture
from pokepsro.core.errors import UsageError
from pokepsro.core.files import atomic_write_bytes, write_jsonl
from pokepsro.core.run_logger import open_run_logger
from pokepsro.core.seeding import derive_seed
from pokepsro.gen1.teams import load_team_set
from pokepsro.learning.features import FEATURE_VERSION, OBS_DIM
from pokepsro.learning.model import checkpoint_path, load_checkpoint, pick_device, save_checkpoint
from pokepsro.learning.oracle.base import BestResponseTask, OracleResult
from pokepsro.learning.oracle.ppo import METRICS, Rollout, load_ppo_config, ppo_update
from pokepsro.learning.oracle.rollouts import LocalRollouts, RolloutPool, RolloutSettings, greedy_key
from pokepsro.learning.trainer import write_metrics_csv

STATE_FILE = "state.pt"


def round_sizes(total_battles: int, round_battles: int) -> list[int]:
    """The budget split into rounds; the last one takes the remainder."""
    full, rest = divmod(total_battles, round_battles)
    return [round_battles] * full + ([rest] if rest else [])


def check_options(options: dict) -> None:
    load_ppo_config(options.get("ppo_config", "ppo"))
    budget = options.get("oracle_battles")
    if not isinstance(budget, int) or isinstance(budget, bool) or budget < 1:
        raise UsageError(f"oracle_battles must be an integer >= 1, got {budget!r}")


def train(task: BestResponseTask) -> OracleResult:
    """PPO from `task.init_checkpoint` against σ for `options["oracle_battles"]` battles."""
    config = load_ppo_config(task.options.get("ppo_config", "ppo"))
    budget = task.options["oracle_battles"]
    if task.runtime.get("backend", "direct") != "direct":
        raise UsageError("the ppo oracle plays on the direct backend; set backend: direct")
    sizes = round_sizes(budget, config["round_battles"])
    device = pick_device()
    initial = load_checkpoint(task.init_checkpoint, map_location=device, expected_feature_version=FEATURE_VERSION,
                              expected_obs_dim=OBS_DIM)
    model = initial.model
    reference = copy.deepcopy(model).eval() if config["kl_coef"] > 0 else None
    optimizer = torch.optim.Adam(model.parameters(), lr=config["lr"])
    work = Path(task.work_dir)
    done_rounds, rows, records, greedy_done = _resume(work, model, optimizer, device)
    team_set = load_team_set(task.team_set, task.battle["battle_format"])
    learner = learner_key(task.learner_name)
    members = [name for name, weight in zip(task.opponents, task.sigma) if weight > 0]
    greedy = GreedyEvaluation(task, config, team_set, learner, members, sizes, greedy_done)
    workers = task.runtime.get("workers", 1)
    settings = RolloutSettings(learner=learner, temperature=config["temperature"],
                               opponents={name: task.opponents[name] for name in members},
                               model_config=initial.model_config, obs_dim=initial.obs_dim,
                               battle_format=task.battle["battle_format"],
                               concurrency=max(1, -(-task.runtime["concurrency"] // workers)),
                               max_turns=task.battle["max_turns"], battle_timeout_s=task.battle["battle_timeout_s"])
    run_logger = open_run_logger(task.logger, job=task.learner_name, job_type="oracle",
                                 tensorboard_dir=work / "tensorboard", purge_step=sum(sizes[:done_rounds]) + 1,
                                 config={"oracle": "ppo", "oracle_battles": budget, **config})
    bar = progress_bar(budget + greedy.battles_after(0),
                       budget - sum(sizes[:done_rounds]) + greedy.battles_after(done_rounds), task.progress)
    rollouts = RolloutPool(settings, workers, bar) if workers > 1 else LocalRollouts(settings, model, bar)
    with rollouts, run_logger:
        if done_rounds == 0:
            greedy.after_round(0, model, rollouts, run_logger)
        for number in range(done_rounds + 1, len(sizes) + 1):
            specs = _schedule_round(task, team_set, learner, number, sizes, members)
            model.eval()
            started = time.perf_counter()
            round_records, episodes = rollouts.play(model, specs)
            played = time.perf_counter() - started
            rollout = Rollout.from_episodes([episodes[index] for index in sorted(episodes)])
            generator = torch.Generator().manual_seed(derive_seed(task.seed, "ppo-update", task.learner_name, number))
            started = time.perf_counter()
            update = ppo_update(model, optimizer, rollout, config, generator=generator, reference=reference)
            updated = time.perf_counter() - started
            row = _round_row(number, sum(sizes[:number]), round_records, update, played, updated)
            rows.append(row)
            records += [{**record, "round": number} for record in round_records]
            greedy.after_round(number, model, rollouts, run_logger)
            _commit(work, number, model, optimizer, initial, config, task, rows, records, greedy)
            run_logger.log("ppo", {name: value for name, value in row.items() if name != "round"}, row["battles"],
                           step_name="battles")
            bar.set_postfix(win=f"{row['win_rate']:.2f}", kl=f"{row['approx_kl']:.3f}")
    bar.close()
    return OracleResult(checkpoint=checkpoint_path(work, "round", len(sizes)), metrics=rows, greedy_eval=greedy.rows)


def _schedule_round(task: BestResponseTask, team_set, learner: str, number: int, sizes: list[int],
                    members: list[str]) -> list:
    """Round `number`'s battles: opponents drawn from σ, teams drawn, seats alternating; indices unique."""
    return _schedule_against_sigma(task, team_set, learner, members, sizes[number - 1], sum(sizes[:number - 1]),
                                   "ppo", number)


def _schedule_against_sigma(task: BestResponseTask, team_set, side_a: str, members: list[str], battles: int,
                            start_index: int, purpose: str, *seed_parts) -> list:
    """`battles` of `side_a` against opponents drawn from σ, opponents and teams seeded from `purpose` and
    `seed_parts` (each use of battles against σ draws from its own seeds)."""
    weight_of = dict(zip(task.opponents, map(float, task.sigma)))
    weights = [weight_of[name] for name in members]
    return schedule_against_mixture(
        side_a, members, weights, battles, team_set,
        opponents_seed=derive_seed(task.seed, f"{purpose}-opponents", task.learner_name, *seed_parts),
        teams_seed=derive_seed(task.seed, f"{purpose}-teams", task.learner_name, *seed_parts), start_index=start_index)


class GreedyEvaluation:
    """The learner playing greedily, as every result measures it, against σ after round 0 (the start checkpoint),
    every `greedy_eval_every_rounds` rounds and the last: the learning curve's "greedy vs σ" points.

    Every point plays the same battles (one schedule, seeded apart from training, indices past the budget), so
    points differ by the weights alone. The greedy learner records nothing and takes no training draw, so the
    training battles and weights are those of a run without these points.
    """

    def __init__(self, task: BestResponseTask, config: dict, team_set, learner: str, members: list[str],
                 sizes: list[int], done: tuple[list[dict], list[dict]]) -> None:
        self.every = config["greedy_eval_every_rounds"]
        self.sizes = sizes
        self.rows, self.records = done
        self.specs = _schedule_against_sigma(task, team_set, greedy_key(learner), members,
                                             config["greedy_eval_battles"], sum(sizes), "ppo-greedy-eval")

    def due(self, number: int) -> bool:
        return self.every > 0 and (number % self.every == 0 or number == len(self.sizes))

    def battles_after(self, done_rounds: int) -> int:
        """Greedy battles still to play once `done_rounds` rounds are committed (round 0's point with round 1)."""
        points = [number for number in range(len(self.sizes) + 1) if self.due(number) and max(number, 1) > done_rounds]
        return len(points) * len(self.specs)

    def after_round(self, number: int, model, rollouts, run_logger) -> None:
        """Round `number`'s point, if one is due: a row and its battle records, committed with the round."""
        if not self.due(number):
            return
        model.eval()
        started = time.perf_counter()
        records, _ = rollouts.play(model, self.specs)  # no episodes: the greedy learner does not record
        summary = summarize_results(records)
        row = {"round": number, "battles": sum(self.sizes[:number]), "eval_battles": len(records),
               "win_rate": summary["win_rate"], "win_rate_ci_low": summary["ci95"][0],
               "win_rate_ci_high": summary["ci95"][1], "eval_s": time.perf_counter() - started}
        self.rows.append(row)
        self.records += [{**record, "round": number} for record in records]
        run_logger.log("ppo_greedy", {name: value for name, value in row.items() if name != "round"}, row["battles"],
                       step_name="battles")


def _round_row(number: int, battles: int, records: list[dict], update: dict, played_s: float,
               updated_s: float) -> dict[str, Any]:
    summary = summarize_results(records)
    return {"round": number, "battles": battles, "win_rate": summary["win_rate"],
            "win_rate_ci_low": summary["ci95"][0], "win_rate_ci_high": summary["ci95"][1],
            **{name: update[name] for name in METRICS}, "explained_variance": update["explained_variance"],
            "samples": update["samples"], "updates": update["updates"],
            "battles_per_s": len(records) / played_s, "samples_per_s": update["samples"] / played_s,
            "update_samples_per_s": update["processed"] / updated_s,
            "play_s": played_s, "update_s": updated_s}


def _commit(work: Path, number: int, model, optimizer, initial, config: dict, task: BestResponseTask,
            rows: list[dict], records: list[dict], greedy: GreedyEvaluation) -> None:
    """The round's policy first, then the state that points at it: a kill in between replays the round."""
    save_checkpoint(checkpoint_path(work, "round", number), model, model_config=initial.model_config,
                    obs_dim=initial.obs_dim, feature_version=initial.feature_version,
                    train_config={"oracle": "ppo", **config},
                    epoch=number, metrics={**rows[-1], "init_from_checkpoint": str(task.init_checkpoint),
                                           "learner": task.learner_name})
    state = {"round": number, "optimizer": optimizer.state_dict(), "rows_json": json.dumps(rows),
             "records_json": json.dumps(records), "greedy_rows_json": json.dumps(greedy.rows),
             "greedy_records_json": json.dumps(greedy.records)}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(work / STATE_FILE, buffer.getvalue())
    _write_outputs(work, rows, records)
    _write_outputs(work, greedy.rows, greedy.records, table="greedy_eval.csv", battles="greedy_eval.jsonl")


def _resume(work: Path, model, optimizer, device) -> tuple[int, list[dict], list[dict], tuple[list, list]]:
    """(rounds done, metrics rows, records, greedy evaluation rows and records) of the last committed round;
    weights and optimizer restored."""
    path = work / STATE_FILE
    if not path.is_file():
        return 0, [], [], ([], [])
    state = torch.load(path, map_location=device, weights_only=True)
    number = int(state["round"])
    weights = torch.load(checkpoint_path(work, "round", number), map_location=device, weights_only=True)["state_dict"]
    model.load_state_dict(weights)
    optimizer.load_state_dict(state["optimizer"])
    print(f"resuming PPO after round {number} ({path})")
    greedy = (json.loads(state.get("greedy_rows_json", "[]")), json.loads(state.get("greedy_records_json", "[]")))
    return number, json.loads(state["rows_json"]), json.loads(state["records_json"]), greedy


def _write_outputs(work: Path, rows: list[dict], records: list[dict], *, table: str = "metrics.csv",
                   battles: str = "battles.jsonl") -> None:
    """A table (one row per round, or per greedy point) and its battle records (each battle once), derived from
    the state."""
    if rows:
        write_metrics_csv(work / table, rows)
        write_jsonl(work / battles, records)
