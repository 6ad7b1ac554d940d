"""The online PPO oracle: rounds of battles against opponents drawn per battle from σ, each round followed by a PPO
update of the learner's weights, while rollout workers (`rollouts.RolloutWorkers`) keep playing.

The schedule is fixed, so no result depends on timing: round r is played with the weights after update
`acting_version(r) = max(0, r − 1 − policy_lag)`, and update r trains on round r's decisions alone (battle
order). With `policy_lag` 0 the workers wait for every update (play, then learn); with lag K they play up to K
rounds ahead while the learner updates, and PPO's ratio against the recorded behaviour log-probs corrects for the
older weights (`behaviour_kl` in metrics.csv measures how far they lag).

The data path, rollout → batch → update: in a worker, the learner is a recording `NeuralPlayer` sampling at the
config's temperature (`rollouts._players`); at each battle's end `rollouts.LearnerEpisodes` takes its decisions from
it as the battle's `Steps` (only the learner's own decisions are recorded), which come back with the battle's record
(`Finished.episode`) and are filed in their round's `Job`; once the round is complete, `Job.learner_steps` joins its
battles in index order into the batch that `ppo.ppo_update` trains on (`PPORun._update`).

After every update the job saves the policy (`ckpts/round_K.pt`), appends the round's battle records to
`battles.jsonl`, and then, as its one commit point, `state.pt` (round, optimizer, metrics rows, how long
`battles.jsonl` is): a commit costs one round's records, however long the run. Round checkpoints that no resume
needs any more are then deleted, except those of the greedy evaluation points. A killed job resumes from the last
committed round (records appended past the commit are cut off), with the weights each unfinished round is scheduled
to be played with read back from `ckpts/`, and replays reproduce it because every draw of a round is seeded from
(seed, learner, round).

Greedy evaluation points (`GreedyEvaluation`): after round 0 (the start checkpoint), every
`greedy_eval_every_rounds` rounds and the last, the learner also plays greedily, as every result measures it,
against σ, with that round's weights; rows in `greedy_eval.csv`. Point n is played beside the later rounds and
committed with round n + 1 + policy_lag at the latest (or at the end).
"""

from __future__ import annotations

import copy
import io
import json
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from pokepsro.battles.backend import progress_bar
from pokepsro.battles.records import summarize_results
from pokepsro.battles.spec import BattleSpec, learner_key, schedule_against_mixture
from pokepsro.core.errors import UsageError
from pokepsro.core.files import append_jsonl, atomic_write_bytes, write_jsonl
from pokepsro.core.run_logger import open_run_logger
from pokepsro.core.seeding import derive_seed
from pokepsro.gen1.teams import load_team_set
from pokepsro.learning.features import FEATURE_VERSION, OBS_DIM
from pokepsro.learning.model import checkpoint_path, load_checkpoint, pick_device, save_checkpoint
from pokepsro.learning.oracle.base import BestResponseTask, OracleResult, checked_config_value
from pokepsro.learning.oracle.ppo import METRICS, load_ppo_config, ppo_update
from pokepsro.learning.oracle.rollouts import Finished, RolloutSettings, RolloutWorkers, greedy_key
from pokepsro.learning.trainer import write_metrics_csv
from pokepsro.learning.trajectories import Steps

STATE_FILE = "state.pt"
BATTLES_FILE = "battles.jsonl"  # every training battle once, appended round by round
POLL_S = 0.05


def round_sizes(total_battles: int, round_battles: int) -> list[int]:
    """The budget split into rounds; the last one takes the remainder."""
    full, rest = divmod(total_battles, round_battles)
    return [round_battles] * full + ([rest] if rest else [])


def acting_version(number: int, lag: int) -> int:
    """The update whose weights play round `number` (0 = the start checkpoint)."""
    return max(0, number - 1 - lag)


# It trains on the battles it plays. Its hyper-parameter file is no input: the values, in Options, retrain when
# they change, where a file input would also retrain when the file is merely touched.
INPUTS: tuple[str, ...] = ()


@dataclass(frozen=True)
class Options:
    """What changes a PPO best response: the budget and the values of the hyper-parameters (so editing their
    file retrains), as `ppo.load_ppo_config` validated them."""

    battles: int  # training battles (rounds of hyper["round_battles"])
    hyper: dict[str, Any]


def check(config: dict) -> Options:
    """The workflow config's `oracle.ppo` block (shape checked by config/schema.yaml), its hyper-parameters loaded."""
    settings = config["oracle"]["ppo"]
    return Options(battles=settings["battles"],
                   hyper=checked_config_value("oracle.ppo.hyper", load_ppo_config, settings["hyper"]))


@dataclass
class Job:
    """Battles played with one version of the weights: a training round, or a greedy point."""

    number: int
    version: int
    specs: list[BattleSpec]
    greedy: bool = False
    records: dict[int, dict] = field(default_factory=dict)
    episodes: dict[int, Steps] = field(default_factory=dict)  # the learner's steps, by battle index
    released: float = field(default_factory=time.perf_counter)
    completed: float | None = None

    def add(self, finished: Finished) -> None:
        index = finished.record["index"]
        self.records[index] = finished.record
        if finished.episode is not None:
            self.episodes[index] = finished.episode
        if self.complete:
            self.completed = time.perf_counter()

    @property
    def complete(self) -> bool:
        return len(self.records) == len(self.specs)

    def learner_steps(self) -> Steps:
        """The learner's steps of every battle, in battle-index order: the batch the round's update trains on."""
        if not self.episodes:
            raise ValueError("a round without any recorded learner decision cannot be trained on")
        return Steps.concat([self.episodes[index] for index in sorted(self.episodes)])

    def sorted_records(self) -> list[dict]:
        return [self.records[index] for index in sorted(self.records)]


def train(task: BestResponseTask) -> OracleResult:
    """PPO from `task.init_checkpoint` against σ for `task.options.battles` battles."""
    if task.runtime.get("backend", "direct") != "direct":
        raise UsageError("the ppo oracle plays on the direct backend; set backend: direct")
    return PPORun(task, task.options.hyper, task.options.battles).run()


class PPORun:
    """One best response: the schedule of rounds and greedy points, the learner, and its commits."""

    def __init__(self, task: BestResponseTask, config: dict, budget: int) -> None:
        self.task, self.config, self.budget = task, config, budget
        self.lag = config["policy_lag"]
        self.sizes = round_sizes(budget, config["round_battles"])
        device = pick_device()
        self.initial = load_checkpoint(task.init_checkpoint, map_location=device,
                                       expected_feature_version=FEATURE_VERSION, expected_obs_dim=OBS_DIM)
        self.model = self.initial.model
        self.reference = copy.deepcopy(self.model).eval() if config["kl_coef"] > 0 else None
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config["lr"])
        self.work = Path(task.work_dir)
        self.committed, self.rows, greedy_done = _resume(self.work, self.model, self.optimizer, device)
        self.team_set = load_team_set(task.team_set, task.battle["battle_format"])
        self.learner = learner_key(task.learner_name)
        self.members = [name for name, weight in zip(task.opponents, task.sigma) if weight > 0]
        self.greedy = GreedyEvaluation(task, config, self.team_set, self.learner, self.members, self.sizes,
                                       greedy_done)
        self.points_at_commit = len(self.greedy.rows)
        self.rounds: dict[int, Job] = {}
        self.points: dict[int, Job] = {}
        self.last_commit = time.perf_counter()
        self.learner_idle_s = 0.0

    def run(self) -> OracleResult:
        task, config = self.task, self.config
        workers = task.runtime.get("workers", 1)
        settings = RolloutSettings(learner=self.learner, temperature=config["temperature"],
                                   opponents={name: task.opponents[name] for name in self.members},
                                   model_config=self.initial.model_config, obs_dim=self.initial.obs_dim,
                                   battle_format=task.battle["battle_format"],
                                   concurrency=max(1, -(-task.runtime["concurrency"] // workers)),
                                   max_turns=task.battle["max_turns"],
                                   battle_timeout_s=task.battle["battle_timeout_s"], slots=self.lag + 1)
        self.run_logger = open_run_logger(task.logger, job=task.learner_name, job_type="oracle",
                                          tensorboard_dir=self.work / "tensorboard",
                                          purge_step=sum(self.sizes[:self.committed]) + 1,
                                          config={"oracle": "ppo", "battles": self.budget, **config})
        greedy_total = sum(map(self.greedy.due, range(len(self.sizes) + 1))) * len(self.greedy.specs)
        self.bar = progress_bar(self.budget + greedy_total, self.budget - sum(self.sizes[:self.committed])
                                + self.greedy.battles_left(), task.progress)
        with RolloutWorkers(settings, workers, self.bar) as self.workers, self.run_logger, \
                ThreadPoolExecutor(max_workers=1, thread_name_prefix="ppo-update") as learner:
            for version in range(max(0, self.committed - self.lag), self.committed + 1):
                self._release(version, self._weights_of(version))
            self._learn(learner)
            if len(self.greedy.rows) > self.points_at_commit:
                self._commit(len(self.sizes))  # the last greedy points
        self.bar.close()
        return OracleResult(checkpoint=checkpoint_path(self.work, "round", len(self.sizes)), metrics=self.rows,
                            greedy_eval=self.greedy.rows)

    def _learn(self, learner: ThreadPoolExecutor) -> None:
        """Update on each round as soon as it is complete, commit it once the greedy point sharing its weights' slot
        is done, then publish the new weights and release what they play; until every battle is in."""
        number = self.committed + 1
        update: Future | None = None
        idle_since = time.perf_counter()
        while number <= len(self.sizes) or any(not job.complete for job in self.points.values()):
            for finished in self.workers.collect(POLL_S):
                self._file(finished)
            if update is None and number <= len(self.sizes) and self.rounds[number].complete:
                self.learner_idle_s += time.perf_counter() - idle_since
                update = learner.submit(self._update, number)
            if update is not None and update.done() and self._slot_free(number - self.lag - 1):
                self._after_update(number, update.result())
                update, number, idle_since = None, number + 1, time.perf_counter()

    def _update(self, number: int) -> tuple[dict, float]:
        """PPO on round `number` (on the learner's thread)."""
        batch = self.rounds[number].learner_steps()
        generator = torch.Generator().manual_seed(derive_seed(self.task.seed, "ppo-update", self.task.learner_name,
                                                              number))
        self.model.eval()
        started = time.perf_counter()
        update = ppo_update(self.model, self.optimizer, batch, self.config, generator=generator,
                            reference=self.reference)
        return update, time.perf_counter() - started

    def _slot_free(self, version: int) -> bool:
        """No greedy point of `version` is still playing (publishing version + lag + 1 replaces its weights)."""
        point = self.points.get(version)
        return point is None or point.complete

    def _after_update(self, number: int, result: tuple[dict, float]) -> None:
        update, updated_s = result
        job = self.rounds.pop(number)
        now = time.perf_counter()
        row = _round_row(number, sum(self.sizes[:number]), job, self.lag, update, updated_s,
                         now - self.last_commit, self.learner_idle_s)
        self.last_commit, self.learner_idle_s = now, 0.0
        self.rows.append(row)
        self._commit(number, [{**record, "round": number} for record in job.sorted_records()])
        self.run_logger.log("ppo", {name: value for name, value in row.items() if name != "round"}, row["battles"],
                            step_name="battles")
        self.bar.set_postfix(win=f"{row['win_rate']:.2f}", kl=f"{row['approx_kl']:.3f}")
        self._release(number, self.model)

    def _release(self, version: int, weights) -> None:
        """Publish `version` and queue what it plays: its greedy point if due and not yet committed, and the round
        it is scheduled for (all rounds up to 1 + lag for the start checkpoint)."""
        self.workers.publish(version, weights)
        if self.greedy.due(version) and not self.greedy.done(version):
            self.points[version] = Job(version, version, self.greedy.specs, greedy=True)
            self.workers.submit(self.points[version], self.greedy.specs, version, greedy=True)
        first = self.committed + 1
        for number in range(first, len(self.sizes) + 1):
            if acting_version(number, self.lag) == version and number not in self.rounds:
                self.rounds[number] = Job(number, version, _schedule_round(self.task, self.team_set, self.learner,
                                                                         number, self.sizes, self.members))
                self.workers.submit(self.rounds[number], self.rounds[number].specs, version)

    def _file(self, finished: Finished) -> None:
        job: Job = finished.job
        job.add(finished)
        if job.greedy and job.complete:
            row = self.greedy.add(job)
            self.run_logger.log("ppo_greedy", {name: value for name, value in row.items() if name != "round"},
                                row["battles"], step_name="battles")

    def _weights_of(self, version: int):
        """The model after update `version`, as committed (the start checkpoint for 0)."""
        if version == self.committed:
            return self.model
        path = self.task.init_checkpoint if version == 0 else checkpoint_path(self.work, "round", version)
        return load_checkpoint(path, map_location="cpu").model

    def _commit(self, number: int, records: list[dict] = ()) -> None:
        """Commit round `number` with its battle `records` (none when re-committing it for late greedy points)."""
        self.committed, self.points_at_commit = number, len(self.greedy.rows)
        _commit(self.work, number, self.model, self.optimizer, self.initial, self.config, self.task, self.rows,
                records, self.greedy)


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

    def battles_left(self) -> int:
        """Greedy battles still to play: every due point without a row."""
        points = sum(self.due(number) for number in range(len(self.sizes) + 1))
        return (points - len(self.rows)) * len(self.specs)

    def done(self, number: int) -> bool:
        return any(row["round"] == number for row in self.rows)

    def add(self, job: Job) -> dict[str, Any]:
        """Point `job.number`'s row and its battle records, kept in round order whatever order points finish in."""
        records = job.sorted_records()
        summary = summarize_results(records)
        row = {"round": job.number, "battles": sum(self.sizes[:job.number]), "eval_battles": len(records),
               "win_rate": summary["win_rate"], "win_rate_ci_low": summary["ci95"][0],
               "win_rate_ci_high": summary["ci95"][1], "eval_s": job.completed - job.released}
        self.rows = sorted([*self.rows, row], key=lambda row: row["round"])
        self.records = sorted([*self.records, *({**record, "round": job.number} for record in records)],
                              key=lambda record: (record["round"], record["index"]))
        return row


def _round_row(number: int, battles: int, job: Job, lag: int, update: dict, updated_s: float, round_s: float,
               idle_s: float) -> dict[str, Any]:
    """Round `number`'s metrics. `round_s`: wall time since the previous commit (its steady battles/s);
    `learner_idle_s`: how long the learner waited for the round's last battle."""
    records = job.sorted_records()
    summary = summarize_results(records)
    return {"round": number, "battles": battles, "win_rate": summary["win_rate"],
            "win_rate_ci_low": summary["ci95"][0], "win_rate_ci_high": summary["ci95"][1],
            **{name: update[name] for name in METRICS}, "explained_variance": update["explained_variance"],
            "samples": update["samples"], "updates": update["updates"], "behaviour_kl": update["behaviour_kl"],
            "acting_version": job.version, "policy_lag": number - 1 - job.version,
            "battles_per_s": len(records) / round_s, "samples_per_s": update["samples"] / round_s,
            "update_samples_per_s": update["processed"] / updated_s,
            "play_s": job.completed - job.released, "update_s": updated_s, "learner_idle_s": idle_s}


def _commit(work: Path, number: int, model, optimizer, initial, config: dict, task: BestResponseTask,
            rows: list[dict], records: list[dict], greedy: GreedyEvaluation) -> None:
    """The round's policy and battle records first, then the state that points at them: a kill in between
    replays the round."""
    save_checkpoint(checkpoint_path(work, "round", number), model, model_config=initial.model_config,
                    obs_dim=initial.obs_dim, feature_version=initial.feature_version,
                    train_config={"oracle": "ppo", **config},
                    epoch=number, metrics={**rows[-1], "init_from_checkpoint": str(task.init_checkpoint),
                                           "learner": task.learner_name})
    battles = work / BATTLES_FILE
    append_jsonl(battles, records)
    state = {"round": number, "optimizer": optimizer.state_dict(), "rows_json": json.dumps(rows),
             "battles_bytes": battles.stat().st_size, "greedy_rows_json": json.dumps(greedy.rows),
             "greedy_records_json": json.dumps(greedy.records)}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(work / STATE_FILE, buffer.getvalue())
    write_metrics_csv(work / "metrics.csv", rows)
    if greedy.rows:
        write_metrics_csv(work / "greedy_eval.csv", greedy.rows)
        write_jsonl(work / "greedy_eval.jsonl", greedy.records)
    _drop_spent_checkpoints(work, number, config["policy_lag"], greedy)


def _drop_spent_checkpoints(work: Path, committed: int, lag: int, greedy: GreedyEvaluation) -> None:
    """Delete the round checkpoints no resume can need: a resume after round `committed` plays the unfinished rounds
    with rounds committed − lag .. committed. The greedy evaluation points' checkpoints stay, so the learning curve
    can be replayed; a long best response keeps a few files instead of one per round (3 MB each)."""
    for number in range(1, committed - lag):
        if not greedy.due(number):
            checkpoint_path(work, "round", number).unlink(missing_ok=True)


def _resume(work: Path, model, optimizer, device) -> tuple[int, list[dict], tuple[list, list]]:
    """(rounds done, metrics rows, greedy evaluation rows and records) of the last committed round; weights and
    optimizer restored, battle records appended after it cut off."""
    path = work / STATE_FILE
    if not path.is_file():
        (work / BATTLES_FILE).unlink(missing_ok=True)  # records of a round killed before the first commit
        return 0, [], ([], [])
    state = torch.load(path, map_location=device, weights_only=True)
    if "battles_bytes" not in state:
        raise UsageError(f"{path} was written by an older pokepsro: delete {work} to restart this best response")
    number = int(state["round"])
    with open(work / BATTLES_FILE, "r+b") as battles:
        battles.truncate(state["battles_bytes"])
    weights = torch.load(checkpoint_path(work, "round", number), map_location=device, weights_only=True)["state_dict"]
    model.load_state_dict(weights)
    optimizer.load_state_dict(state["optimizer"])
    print(f"resuming PPO after round {number} ({path})")
    greedy = (json.loads(state.get("greedy_rows_json", "[]")), json.loads(state.get("greedy_records_json", "[]")))
    return number, json.loads(state["rows_json"]), greedy
