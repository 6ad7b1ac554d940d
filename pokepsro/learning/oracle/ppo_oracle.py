"""The online PPO oracle: rounds of battles against opponents drawn per battle from σ, each round followed by a PPO
update of the learner's weights, while rollout workers (`rollouts.RolloutWorkers`) keep playing.

The schedule is fixed, so no result depends on timing: round r is played with the weights after update
`acting_version(r) = max(0, r − 1 − policy_lag)`, and update r trains on round r's decisions alone (battle
order). With `policy_lag` 0 the workers wait for every update (play, then learn); with lag K they play up to K
rounds ahead while the learner updates, and PPO's ratio against the recorded behaviour log-probs corrects for the
older weights (`behaviour_kl` in metrics.csv measures how far they lag).

Long battles (`defer_after_turns` T > 0): a battle of round r that lasts t turns is trained on by update
`update_of(r, t) = r + ⌊(t − 1) / T⌋` (at most MAX_DEFERRAL more, never past the last round). Its length is fixed by
its spec and weights like everything else in it, so the batches still do not depend on timing, but the learner no
longer waits for a long battle: the workers report when a battle passes each T turns, and update u starts as soon as
every battle that could still belong to it has finished. Without it, one long battle holds its round's update, and
with it every round that needs the update's weights, while the workers run dry (with many workers: rounds of 128
battles, 112 in flight, docs/measurements/2026-12-05_async_rollouts.md).

The data path, rollout → batch → update: in a worker, the learner is a recording `NeuralPlayer` sampling at the
config's temperature (`rollouts._players`); at each battle's end `rollouts.LearnerEpisodes` takes its decisions from
it as the battle's `Steps` (only the learner's own decisions are recorded), which come back with the battle's record
(`Finished.episode`) and are filed in their round's `Job`; once the round is complete, `PPORun._batch` joins the
battles that update trains on in index order into the batch that `ppo.ppo_update` trains on (`PPORun._update`).

After every update the job saves the policy (`ckpts/round_K.pt`), appends the records of the battles it trained on
to `battles.jsonl`, and then, as its one commit point, `state.pt` (round, optimizer, metrics rows, how long
`battles.jsonl` is, the battles of earlier rounds still to be trained on): a commit costs one round's records,
however long the run. Round checkpoints that no resume
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
from pokepsro.learning.oracle.rollouts import Finished, Passed, RolloutSettings, RolloutWorkers, greedy_key
from pokepsro.learning.trainer import write_metrics_csv
from pokepsro.learning.trajectories import Steps

STATE_FILE = "state.pt"
BATTLES_FILE = "battles.jsonl"  # every training battle once, appended round by round
POLL_S = 0.05
MAX_DEFERRAL = 3  # rounds a long battle's decisions may wait for their update (`defer_after_turns`)
NO_UPDATE = {**dict.fromkeys(METRICS), "explained_variance": None, "samples": 0, "updates": 0, "behaviour_kl": None,
             "processed": 0}  # an update without a battle to train on


def round_sizes(total_battles: int, round_battles: int) -> list[int]:
    """The budget split into rounds; the last one takes the remainder."""
    full, rest = divmod(total_battles, round_battles)
    return [round_battles] * full + ([rest] if rest else [])


def acting_version(number: int, lag: int) -> int:
    """The update whose weights play round `number` (0 = the start checkpoint)."""
    return max(0, number - 1 - lag)


def update_of(number: int, turns: int, defer_after_turns: int, last: int) -> int:
    """The update that trains on a battle of round `number` lasting (at least) `turns` turns: its round's, or with
    `defer_after_turns` T > 0 one later per T turns past the first T, at most MAX_DEFERRAL later and never past the
    `last` round."""
    if not defer_after_turns:
        return number
    return min(number + min(max(turns - 1, 0) // defer_after_turns, MAX_DEFERRAL), last)


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
    """The workflow config's `oracle.ppo` block (shape checked by config/schema.yaml), its hyper-parameters loaded
    and `hyper_overrides` put over them (each key one of the file's)."""
    settings = config["oracle"]["ppo"]
    hyper = checked_config_value("oracle.ppo.hyper", load_ppo_config, settings["hyper"])
    overrides = settings.get("hyper_overrides") or {}
    if overrides:
        hyper = checked_config_value("oracle.ppo.hyper_overrides", load_ppo_config, {**hyper, **overrides})
    return Options(battles=settings["battles"], hyper=hyper)


@dataclass
class Job:
    """Battles played with one version of the weights: a training round (its battles not yet trained on), or a
    greedy point."""

    number: int
    version: int
    specs: list[BattleSpec]
    greedy: bool = False
    records: dict[int, dict] = field(default_factory=dict)
    episodes: dict[int, Steps] = field(default_factory=dict)  # the learner's steps, by battle index
    turns: dict[int, int] = field(default_factory=dict)  # battle index -> a turn it has reached while playing
    released: float = field(default_factory=time.perf_counter)
    completed: float | None = None

    def __post_init__(self) -> None:
        self.playing = {spec.index for spec in self.specs}  # not finished yet

    def add(self, finished: Finished) -> None:
        index = finished.record["index"]
        self.playing.discard(index)
        self.records[index] = finished.record
        if finished.episode is not None:
            self.episodes[index] = finished.episode
        if self.complete:
            self.completed = time.perf_counter()

    @property
    def complete(self) -> bool:
        return len(self.records) == len(self.specs)

    def least_turns(self, index: int) -> int:
        """How long battle `index` is known to last: its turns once finished, else the last turn reported."""
        record = self.records.get(index)
        return record["turns"] if record is not None else self.turns.get(index, 0)

    def take(self, indices: set[int]) -> None:
        """Battles trained on and committed: no longer this job's."""
        self.specs = [spec for spec in self.specs if spec.index not in indices]
        for index in indices:
            self.records.pop(index)
            self.episodes.pop(index, None)
            self.turns.pop(index, None)

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
        self.defer = config["defer_after_turns"]
        self.slots = self.lag + 1 + (MAX_DEFERRAL if self.defer else 0)  # weight versions that may act at once
        self.sizes = round_sizes(budget, config["round_battles"])
        device = pick_device()
        self.initial = load_checkpoint(task.init_checkpoint, map_location=device,
                                       expected_feature_version=FEATURE_VERSION, expected_obs_dim=OBS_DIM)
        self.model = self.initial.model
        self.reference = copy.deepcopy(self.model).eval() if config["kl_coef"] > 0 else None
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config["lr"])
        self.work = Path(task.work_dir)
        self.committed, self.rows, greedy_done, self.untrained = _resume(self.work, self.model, self.optimizer,
                                                                         device)
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
                                   battle_timeout_s=task.battle["battle_timeout_s"], slots=self.slots,
                                   report_every_turns=self.defer)
        self.run_logger = open_run_logger(task.logger, job=task.learner_name, job_type="oracle",
                                          tensorboard_dir=self.work / "tensorboard",
                                          purge_step=sum(self.sizes[:self.committed]) + 1,
                                          config={"oracle": "ppo", "battles": self.budget, **config})
        greedy_total = sum(map(self.greedy.due, range(len(self.sizes) + 1))) * len(self.greedy.specs)
        untrained = sum(map(len, self.untrained.values()))
        self.bar = progress_bar(self.budget + greedy_total, self.budget - sum(self.sizes[:self.committed])
                                + untrained + self.greedy.battles_left(), task.progress)
        with RolloutWorkers(settings, workers, self.bar) as self.workers, self.run_logger, \
                ThreadPoolExecutor(max_workers=1, thread_name_prefix="ppo-update") as learner:
            for version in range(max(0, self.committed + 1 - self.slots), self.committed + 1):
                self._release(version, self._weights_of(version))
            self._learn(learner)
            if len(self.greedy.rows) > self.points_at_commit:
                self._commit(len(self.sizes))  # the last greedy points
        self.bar.close()
        return OracleResult(checkpoint=checkpoint_path(self.work, "round", len(self.sizes)), metrics=self.rows,
                            greedy_eval=self.greedy.rows)

    def _learn(self, learner: ThreadPoolExecutor) -> None:
        """Update as soon as every battle the update could train on is in, commit it once the greedy point sharing
        its weights' slot is done, then publish the new weights and release what they play; until every battle is
        in."""
        number = self.committed + 1
        update: Future | None = None
        batch: list[tuple[Job, int]] = []
        idle_since = played = time.perf_counter()
        while number <= len(self.sizes) or any(not job.complete for job in self.points.values()):
            for event in self.workers.collect(POLL_S):
                self._file(event)
            if update is None and number <= len(self.sizes) and self._ready(number):
                played = time.perf_counter()
                self.learner_idle_s += played - idle_since
                batch = self._batch(number)
                update = learner.submit(self._update, number, [job.episodes[index] for job, index in batch
                                                               if index in job.episodes])
            if update is not None and update.done() and self._slot_free(number - self.slots):
                self._after_update(number, batch, update.result(), played)
                update, number, idle_since = None, number + 1, time.perf_counter()

    def _update_of(self, job: Job, index: int) -> int:
        """The update battle `index` of round `job` belongs to, as far as its length is known yet (a lower bound
        while it plays, exact once it is over)."""
        return update_of(job.number, job.least_turns(index), self.defer, len(self.sizes))

    def _ready(self, number: int) -> bool:
        """Every battle that update `number` could train on is over: each battle of rounds up to `number` is
        finished or known to belong to a later update."""
        return all(self._update_of(job, index) > number
                   for job in self.rounds.values() if job.number <= number for index in job.playing)

    def _batch(self, number: int) -> list[tuple[Job, int]]:
        """(round, battle index) of the battles update `number` trains on, in battle-index order."""
        return sorted(((job, index) for job in self.rounds.values() if job.number <= number
                       for index in job.records if self._update_of(job, index) == number),
                      key=lambda item: item[1])

    def _update(self, number: int, episodes: list[Steps]) -> tuple[dict, float]:
        """PPO on the learner's steps of the battles update `number` trains on (on the learner's thread); none when
        every battle of the round lasts long enough to be trained on later: the weights stay as they are."""
        if not episodes:
            return NO_UPDATE, 0.0
        generator = torch.Generator().manual_seed(derive_seed(self.task.seed, "ppo-update", self.task.learner_name,
                                                              number))
        self.model.eval()
        started = time.perf_counter()
        update = ppo_update(self.model, self.optimizer, Steps.concat(episodes), self.config, generator=generator,
                            reference=self.reference)
        return update, time.perf_counter() - started

    def _slot_free(self, version: int) -> bool:
        """No greedy point of `version` is still playing (publishing version + slots replaces its weights; the rounds
        it played are trained on by now)."""
        point = self.points.get(version)
        return point is None or point.complete

    def _after_update(self, number: int, batch: list[tuple[Job, int]], result: tuple[dict, float],
                      played: float) -> None:
        update, updated_s = result
        now = time.perf_counter()
        records = [{**job.records[index], "round": job.number, "update": number} for job, index in batch]
        row = _round_row(number, sum(self.sizes[:number]), records, self.lag, update, updated_s,
                         now - self.last_commit, played - self.rounds[number].released, self.learner_idle_s)
        taken: dict[int, set[int]] = {}
        for job, index in batch:
            taken.setdefault(job.number, set()).add(index)
        for number_taken, indices in taken.items():
            self.rounds[number_taken].take(indices)
        self.rounds = {key: job for key, job in self.rounds.items() if job.specs}
        self.last_commit, self.learner_idle_s = now, 0.0
        self.rows.append(row)
        self._commit(number, records)
        self.run_logger.log("ppo", {name: value for name, value in row.items() if name != "round"}, row["battles"],
                            step_name="battles")
        if row["samples"]:
            self.bar.set_postfix(win=f"{row['win_rate']:.2f}", kl=f"{row['approx_kl']:.3f}")
        self._release(number, self.model)

    def _release(self, version: int, weights) -> None:
        """Publish `version` and queue what it plays: its greedy point if due and not yet committed, and the rounds
        it is scheduled for (all rounds up to 1 + lag for the start checkpoint; on resume, only the battles of
        committed rounds still to be trained on)."""
        self.workers.publish(version, weights)
        if self.greedy.due(version) and not self.greedy.done(version):
            self.points[version] = Job(version, version, self.greedy.specs, greedy=True)
            self.workers.submit(self.points[version], self.greedy.specs, version, greedy=True)
        first = min(self.untrained, default=self.committed + 1)
        for number in range(first, len(self.sizes) + 1):
            if (acting_version(number, self.lag) != version or number in self.rounds
                    or (number <= self.committed and number not in self.untrained)):
                continue
            specs = _schedule_round(self.task, self.team_set, self.learner, number, self.sizes, self.members)
            if number <= self.committed:
                specs = [spec for spec in specs if spec.index in self.untrained[number]]
            self.rounds[number] = Job(number, version, specs)
            self.workers.submit(self.rounds[number], specs, version)

    def _file(self, event: Finished | Passed) -> None:
        job: Job = event.job
        if isinstance(event, Passed):
            job.turns[event.index] = max(event.turn, job.turns.get(event.index, 0))
            return
        job.add(event)
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
        """Commit round `number` with the battle `records` its update trained on (none when re-committing it for
        late greedy points)."""
        self.committed, self.points_at_commit = number, len(self.greedy.rows)
        self.untrained = {job.number: {spec.index for spec in job.specs}
                          for job in self.rounds.values() if job.number <= number}
        _commit(self.work, number, self.model, self.optimizer, self.initial, self.config, self.task, self.rows,
                records, self.greedy, self.untrained, self.slots)


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


def _round_row(number: int, battles: int, records: list[dict], lag: int, update: dict, updated_s: float,
               round_s: float, play_s: float, idle_s: float) -> dict[str, Any]:
    """Update `number`'s metrics over the battles it trained on (`records`; none: no win rate, no loss). `round_s`: wall time since the previous
    commit (its steady battles/s); `play_s`: from the round's release until its update could start;
    `learner_idle_s`: how long the learner waited for that."""
    summary = summarize_results(records) if records else {"win_rate": None, "ci95": (None, None)}
    version = acting_version(number, lag)
    return {"round": number, "battles": battles, "win_rate": summary["win_rate"],
            "win_rate_ci_low": summary["ci95"][0], "win_rate_ci_high": summary["ci95"][1],
            **{name: update[name] for name in METRICS}, "explained_variance": update["explained_variance"],
            "samples": update["samples"], "updates": update["updates"], "behaviour_kl": update["behaviour_kl"],
            "acting_version": version, "policy_lag": number - 1 - version,
            "deferred": sum(record["round"] < number for record in records),
            "round_s": round_s, "battles_per_s": len(records) / round_s, "samples_per_s": update["samples"] / round_s,
            "update_samples_per_s": update["processed"] / updated_s if updated_s else None,
            "play_s": play_s, "update_s": updated_s, "learner_idle_s": idle_s}


def _commit(work: Path, number: int, model, optimizer, initial, config: dict, task: BestResponseTask,
            rows: list[dict], records: list[dict], greedy: GreedyEvaluation, untrained: dict[int, set[int]],
            slots: int) -> None:
    """The round's policy and battle records first, then the state that points at them: a kill in between
    replays the round. `untrained`: battles of committed rounds that a later update trains on (replayed on resume)."""
    save_checkpoint(checkpoint_path(work, "round", number), model, model_config=initial.model_config,
                    obs_dim=initial.obs_dim, feature_version=initial.feature_version,
                    train_config={"oracle": "ppo", **config},
                    epoch=number, metrics={**rows[-1], "init_from_checkpoint": str(task.init_checkpoint),
                                           "learner": task.learner_name})
    battles = work / BATTLES_FILE
    append_jsonl(battles, records)
    state = {"round": number, "optimizer": optimizer.state_dict(), "rows_json": json.dumps(rows),
             "battles_bytes": battles.stat().st_size, "greedy_rows_json": json.dumps(greedy.rows),
             "greedy_records_json": json.dumps(greedy.records), "untrained_json": json.dumps({number: sorted(indices) for number, indices in untrained.items()})}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(work / STATE_FILE, buffer.getvalue())
    write_metrics_csv(work / "metrics.csv", rows)
    if greedy.rows:
        write_metrics_csv(work / "greedy_eval.csv", greedy.rows)
        write_jsonl(work / "greedy_eval.jsonl", greedy.records)
    _drop_spent_checkpoints(work, number, slots, greedy)


def _drop_spent_checkpoints(work: Path, committed: int, slots: int, greedy: GreedyEvaluation) -> None:
    """Delete the round checkpoints no resume can need: a resume after round `committed` plays what is left with the
    last `slots` versions, committed + 1 − slots .. committed. The greedy evaluation points' checkpoints stay, so the
    learning curve can be replayed; a long best response keeps a few files instead of one per round (3 MB each)."""
    for number in range(1, committed + 1 - slots):
        if not greedy.due(number):
            checkpoint_path(work, "round", number).unlink(missing_ok=True)


def _resume(work: Path, model, optimizer, device) -> tuple[int, list[dict], tuple[list, list], dict[int, set[int]]]:
    """(rounds done, metrics rows, greedy evaluation rows and records, battles of done rounds not yet trained on by
    round) of the last committed round; weights and optimizer restored, battle records appended after it cut off."""
    path = work / STATE_FILE
    if not path.is_file():
        (work / BATTLES_FILE).unlink(missing_ok=True)  # records of a round killed before the first commit
        return 0, [], ([], []), {}
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
    untrained = {int(round_number): set(indices)
                 for round_number, indices in json.loads(state.get("untrained_json", "{}")).items()}
    return number, json.loads(state["rows_json"]), greedy, untrained
