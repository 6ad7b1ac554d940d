"""`pokepsro` command line: battles, tournaments, the meta-solver, training, evaluation, and play on a server.

Every bad input ends in one line on stderr and exit code 2, with nothing written.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

from pokepsro.core.errors import SOLVER_FAILURE_EXIT, SetupError, SolverError, UsageError
from pokepsro.core.files import read_jsonl
from pokepsro.core.run_logger import LOGGERS, LoggerSettings, check_logger, default_run_group

SUPPORTED_FORMATS = ("gen1ou",)


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def _weight(text: str) -> float:
    """A probability weight in (0, 1]: the least weight a member of σ needs to count in its support."""
    value = float(text)
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {value}")
    return value


def _workers(text: str) -> int | str:
    """A positive number of worker processes, or `auto` (half the CPU cores, resolved when the command runs)."""
    return text if text == "auto" else _positive(text)


def _acting(args: argparse.Namespace) -> dict:
    """How checkpoints act: --temperature T samples, --greedy or nothing plays as the workflow does
    (`DEFAULT_ACTING`, its config `acting` default). Checked before any battle."""
    from pokepsro.metagame.population import DEFAULT_ACTING

    if args.temperature is None:
        return {"greedy": True} if args.greedy else dict(DEFAULT_ACTING)
    if args.greedy:
        raise UsageError("--greedy and --temperature exclude each other; give one")
    try:
        temperature = float(args.temperature)
    except ValueError:
        temperature = math.nan
    if not 0 < temperature < math.inf:
        raise UsageError(f"--temperature must be a number > 0, got {args.temperature!r}")
    return {"temperature": temperature}


def _acting_entry(entry, acting: dict):
    """`entry` made to act by `acting` if it is a checkpoint naming no acting of its own; says how it acts."""
    from pokepsro.metagame.population import describe_acting, with_acting

    entry = with_acting(entry, acting)
    if entry.kind == "checkpoint":
        print(f"{entry.name} acts: {describe_acting(entry.options)}")
    return entry


def _logger_settings(args: argparse.Namespace, out: Path, seed: int) -> LoggerSettings:
    """--logger and --run-group (default: one group per output folder and seed), checked before any work."""
    settings = LoggerSettings(kind=args.logger, group=args.run_group or default_run_group(out, seed))
    check_logger(settings)
    return settings


def _writable_file(path: Path, flag: str) -> Path:
    """Fail before any battle if the output could not be written."""
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise UsageError(f"{flag} {path} is a directory; give a file path")
    if not parent.is_dir():
        raise UsageError(f"{flag} {path}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UsageError(f"{flag} {path} is not writable")
    if path.exists():  # battles are appended to (and resumed from) an existing record file
        try:
            read_jsonl(path)
        except (OSError, UnicodeDecodeError, ValueError):
            raise UsageError(f"{flag} {path} exists and is not a JSONL battle record file; "
                             "choose another path") from None
    return path


def _writable_dir(path: Path, flag: str) -> Path:
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK):
        raise UsageError(f"{flag} {path} is not a writable folder")
    return path


def _check_format(battle_format: str) -> str:
    if battle_format not in SUPPORTED_FORMATS:
        raise UsageError(f"unsupported format {battle_format!r}; supported: {', '.join(SUPPORTED_FORMATS)}")
    return battle_format


def _team_set(name: str, battle_format: str):
    """A shipped set, or a user's folder, validated by the real Showdown validator before it is used."""
    from pokepsro.gen1.teams import ensure_valid, load_team_set, team_set_names

    team_set = load_team_set(name, battle_format)
    if name not in team_set_names(battle_format):
        ensure_valid(team_set)
    return team_set


def _run_options(args: argparse.Namespace) -> dict:
    from pokepsro.workflow.config import resolve_workers

    return {"battle_format": args.format, "concurrency": args.concurrency, "server_log": args.server_log,
            "backend": args.backend, "workers": resolve_workers(args.workers, args.backend)}


def _print_summary(label: str, summary: dict, seconds: float) -> None:
    low, high = summary["ci95"]
    print(f"{label}: {summary['wins']} wins, {summary['losses']} losses, {summary['ties']} ties "
          f"in {summary['battles']} battles")
    print(f"win rate {summary['win_rate']:.3f} (95% Wilson interval {low:.3f}-{high:.3f})")
    print(f"{summary['battles'] / seconds:.1f} battles/s ({seconds:.1f} s)")


def cmd_battle(args: argparse.Namespace) -> None:
    from pokepsro.metagame.evaluation import play_match
    from pokepsro.metagame.population import entry_from_argument

    _check_format(args.format)
    acting = _acting(args)
    policy_a, policy_b = (_acting_entry(entry_from_argument(text), acting) for text in (args.p1, args.p2))
    team_set = _team_set(args.team_set, args.format)
    out = _writable_file(Path(args.out), "--out") if args.out else None
    start = time.perf_counter()
    summary = play_match(policy_a, policy_b, args.n, team_set=team_set, seed=args.seed, record_path=out,
                         **_run_options(args))
    _print_summary(f"{summary['policy_a']} vs {summary['policy_b']}", summary, time.perf_counter() - start)


def cmd_evaluate(args: argparse.Namespace) -> None:
    from pokepsro.metagame.evaluation import evaluate_policy
    from pokepsro.metagame.population import entry_from_argument

    _check_format(args.format)
    acting = _acting(args)
    policy = _acting_entry(entry_from_argument(args.policy), acting)
    opponent = _acting_entry(entry_from_argument(args.opponent), acting)
    team_set = _team_set(args.team_set, args.format)
    out = _writable_file(Path(args.out), "--out") if args.out else None
    start = time.perf_counter()
    summary = evaluate_policy(policy, opponent, args.n, team_set=team_set, seed=args.seed, record_path=out,
                              **_run_options(args))
    _print_summary(f"{policy.name} vs {opponent.name}", summary, time.perf_counter() - start)
    for member, stats in summary.get("by_member", {}).items():
        print(f"  {member}: {stats['battles']} battles, win rate {stats['win_rate']:.3f}")


def cmd_tournament(args: argparse.Namespace) -> None:
    from pokepsro.metagame.matrix import InteractionMatrix
    from pokepsro.metagame.population import Population
    from pokepsro.metagame.tournament import run_tournament

    _check_format(args.format)
    acting = _acting(args)
    population = Population(tuple(_acting_entry(entry, acting) for entry in Population.load(args.population).entries))
    previous = InteractionMatrix.load(args.previous) if args.previous else None
    team_set = _team_set(args.team_set, args.format)
    out = _writable_dir(Path(args.out), "--out")
    options = _run_options(args)
    start = time.perf_counter()
    matrix = run_tournament(population, battles_per_matchup=args.battles_per_matchup, team_set=team_set,
                            seed=args.seed, records_path=out / "battles.jsonl", previous=previous,
                            parallel_matchups=args.parallel_matchups, **options)
    matrix.metadata.update({"battles_per_matchup": args.battles_per_matchup, "team_set": args.team_set,
                            "seed": args.seed, "battle_format": args.format, "workers": options["workers"],
                            "acting": {entry.name: entry.options for entry in population.entries
                                       if entry.kind == "checkpoint"}})
    matrix.save(out / "interaction_matrix.json")
    print(f"wrote {out / 'interaction_matrix.json'} ({len(population)} policies, "
          f"{time.perf_counter() - start:.1f} s)")


def cmd_solve(args: argparse.Namespace) -> None:
    from pokepsro.metagame.solver import solve_matrix_file

    out = _writable_dir(Path(args.out), "--out")
    strategy_path, analysis_path = solve_matrix_file(args.matrix, out, solver=args.solver,
                                                     previous_strategy_path=args.previous_strategy,
                                                     support_threshold=args.support_threshold)
    print(f"wrote {strategy_path} and {analysis_path}")


def cmd_train(args: argparse.Namespace) -> None:
    from pokepsro.learning.model import load_model_config
    from pokepsro.learning.trainer import load_train_config, train

    config = load_train_config(args.train_config)
    for key in ("epochs", "batch_size", "seed"):
        if getattr(args, key) is not None:
            config[key] = getattr(args, key)
    out = _writable_dir(Path(args.out), "--out")
    last = train(out_dir=out, collected_dirs=args.data,
                 replay_dirs=args.replay or (), replay_weight=args.replay_weight,
                 model_config=load_model_config(args.model_config), train_config=config,
                 init_from_checkpoint=args.init_from_checkpoint, logger=_logger_settings(args, out, config["seed"]),
                 job=out.name)
    print(f"wrote {last}")


def cmd_best_response(args: argparse.Namespace) -> None:
    import numpy as np

    from pokepsro.learning.oracle import ppo_oracle
    from pokepsro.learning.oracle.ppo import load_ppo_config
    from pokepsro.metagame.mixture import load_mixture
    from pokepsro.metagame.population import Population, entry_from_argument
    from pokepsro.workflow.config import MIN_ROLLOUT_WORKERS, resolve_workers
    from pokepsro.workflow.training import run_oracle

    _check_format(args.format)
    opponent = _acting_entry(entry_from_argument(args.opponent), _acting(args))
    if opponent.kind == "mixture":
        opponents, sigma = load_mixture(opponent)
    else:
        opponents, sigma = Population((opponent,)), np.ones(1)
    out = _writable_dir(Path(args.out), "--out")
    _team_set(args.team_set, args.format)
    logger = _logger_settings(args, out, args.seed)
    workers = resolve_workers(args.workers, "direct", at_least=MIN_ROLLOUT_WORKERS)
    options = ppo_oracle.Options(battles=args.battles, hyper=load_ppo_config(args.ppo_config))
    start = time.perf_counter()
    checkpoint = run_oracle("ppo", learner_name=args.name, init=args.init, opponents=opponents, sigma=sigma,
                            out_checkpoint=out / "best_response.pt", training_out=out / "br_training", seed=args.seed,
                            team_set=args.team_set,
                            battle={"battle_format": args.format, "max_turns": 500, "battle_timeout_s": 600},
                            runtime={"concurrency": args.concurrency, "backend": "direct", "workers": workers},
                            options=options, logger=logger)
    print(f"wrote {checkpoint} and {out / 'br_training'} ({time.perf_counter() - start:.1f} s); "
          f"per-round metrics in {out / 'br_training' / 'metrics.csv'}")


def cmd_play(args: argparse.Namespace) -> None:
    import secrets

    from pokepsro.battles.records import summarize_results
    from pokepsro.metagame.play import play_on_server, read_password
    from pokepsro.metagame.population import entry_from_argument

    _check_format(args.format)
    policy = _acting_entry(entry_from_argument(args.policy), _acting(args))
    team_set = _team_set(args.team_set, args.format)
    out = _writable_file(Path(args.out), "--out")
    password = read_password(args.password_file) if args.password_file else None
    start = time.perf_counter()
    username = args.username or f"pokepsro{secrets.token_hex(3)}"
    records = play_on_server(policy, server_url=args.server, username=username,
                             password=password, login_server=args.login_server,
                             mode="challenges" if args.accept_challenges else "ladder",
                             battles=args.accept_challenges or args.ladder, team_set=team_set,
                             battle_format=args.format, seed=args.seed, record_path=out,
                             announce=lambda line: print(line, flush=True))
    _print_summary(f"{policy.name} on {args.server}", summarize_results(records), time.perf_counter() - start)
    print(f"records in {out}")



def cmd_criteria(args: argparse.Namespace) -> None:
    from pokepsro.core.files import read_json
    from pokepsro.workflow.criteria import criteria_lines

    success = read_json(args.success)
    try:
        lines = criteria_lines(success)
    except (KeyError, TypeError, ValueError, IndexError) as error:
        raise UsageError(f"{args.success}: not a success.json of this version ({type(error).__name__}: {error}); "
                         "rerun the analysis") from None
    print("\n".join(lines))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pokepsro", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def backend_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--backend", choices=["direct", "server"], default="direct",
                       help="direct: simulator worker processes, no websockets (default); server: a local Showdown server")
        p.add_argument("--workers", type=_workers, default="auto",
                       help="battle worker processes, each with its own simulator (direct backend); "
                            "auto (default): half the CPU cores")
        p.add_argument("--server-log", type=Path, default=None, help="Showdown server log file (server backend)")

    def logger_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--logger", choices=LOGGERS, default="tensorboard",
                       help="where the training curves go (wandb: pip install -e '.[wandb]')")
        p.add_argument("--run-group", help="wandb group (default: derived from --out and the seed)")

    def acting_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--greedy", action="store_true",
                       help="checkpoints play their most likely legal action (the default, as in the workflow)")
        p.add_argument("--temperature", metavar="T",
                       help="checkpoints sample at temperature T > 0 instead of playing greedily; "
                            "population members that name their own acting options keep them")

    def battle_options(p: argparse.ArgumentParser, n_default: int | None) -> None:
        p.add_argument("-n", type=_positive, default=n_default, required=n_default is None,
                       help="number of battles (exactly this many are played)")
        p.add_argument("--team-set", default="competitive", help="shipped team set or a folder of team files")
        p.add_argument("--format", default="gen1ou", help="Showdown format (gen1ou)")
        p.add_argument("--concurrency", type=_positive, default=16, help="battles in flight at once")
        p.add_argument("--seed", type=int, default=0, help="seed of team draws and sampling")
        p.add_argument("--out", help="append per-battle records to this JSONL file")
        backend_options(p)
        acting_options(p)

    battle = sub.add_parser("battle", help="play N battles between two policies")
    battle.add_argument("p1", help="baseline name, module.path:ClassName, or checkpoint .pt")
    battle.add_argument("p2", help="baseline name, module.path:ClassName, or checkpoint .pt")
    battle_options(battle, None)
    battle.set_defaults(func=cmd_battle)

    evaluate = sub.add_parser("evaluate", help="a policy against an opponent policy or Nash mixture")
    evaluate.add_argument("policy", help="baseline, module.path:ClassName, checkpoint .pt, or mixture:POP:STRATEGY")
    evaluate.add_argument("--opponent", required=True,
                          help="baseline, module.path:ClassName, checkpoint .pt, or mixture:POPULATION:META_STRATEGY")
    battle_options(evaluate, 100)
    evaluate.set_defaults(func=cmd_evaluate)

    tournament = sub.add_parser("tournament", help="round robin of a population into an interaction matrix")
    tournament.add_argument("--population", required=True, type=Path)
    tournament.add_argument("--battles-per-matchup", required=True, type=_positive)
    tournament.add_argument("--out", required=True, help="output folder")
    tournament.add_argument("--previous", type=Path, help="previous interaction_matrix.json: play only new pairs")
    tournament.add_argument("--team-set", default="competitive")
    tournament.add_argument("--format", default="gen1ou")
    tournament.add_argument("--parallel-matchups", type=_positive, default=4)
    tournament.add_argument("--concurrency", type=_positive, default=16)
    tournament.add_argument("--seed", type=int, default=0)
    backend_options(tournament)
    acting_options(tournament)
    tournament.set_defaults(func=cmd_tournament)

    solve = sub.add_parser("solve", help="Nash mixture and meta-game analysis of an interaction matrix")
    solve.add_argument("matrix", type=Path)
    solve.add_argument("--out", required=True, help="output folder")
    solve.add_argument("--solver", default="nash", help="nash, maxent_nash or uniform")
    solve.add_argument("--previous-strategy", type=Path,
                       help="previous meta_strategy.json: also report its exploitability against this population")
    solve.add_argument("--support-threshold", type=_weight, default=0.01,
                       help="weight from which a member counts in support_size (default 0.01, as the workflow's)")
    solve.set_defaults(func=cmd_solve)

    train = sub.add_parser("train", help="offline actor-critic training from trajectory folders")
    train.add_argument("--out", required=True, help="training folder (ckpts/epoch_N.pt, metrics.csv)")
    train.add_argument("--data", required=True, nargs="+", type=Path, help="collected trajectory folders")
    train.add_argument("--replay", nargs="*", type=Path, help="replay trajectory folders")
    train.add_argument("--replay-weight", type=float, default=0.5, help="custom_replay_sample_weight in [0, 1]")
    train.add_argument("--model-config", default="small")
    train.add_argument("--train-config", default="psro_oracle")
    train.add_argument("--epochs", type=_positive)
    train.add_argument("--batch-size", type=_positive)
    train.add_argument("--seed", type=int)
    train.add_argument("--init-from-checkpoint", type=Path)
    logger_options(train)
    train.set_defaults(func=cmd_train)

    oracle = sub.add_parser("best-response", help="train a best response with the PPO oracle (resumes when rerun)")
    oracle.add_argument("init", type=Path, help="initial policy checkpoint .pt")
    oracle.add_argument("--opponent", required=True, help="mixture:POP:STRATEGY, a baseline, or a checkpoint")
    oracle.add_argument("--out", required=True, help="folder: best_response.pt and br_training/")
    oracle.add_argument("--battles", type=_positive, required=True, help="training budget in battles")
    oracle.add_argument("--ppo-config", default="ppo", help="config/train name or YAML path")
    oracle.add_argument("--name", default="best_response", help="the learner's name in the records")
    oracle.add_argument("--workers", type=_workers, default="auto",
                        help="rollout worker processes; auto (default): half the CPU cores, at least 2")
    oracle.add_argument("--concurrency", type=_positive, default=16)
    oracle.add_argument("--team-set", default="competitive")
    oracle.add_argument("--format", default="gen1ou")
    oracle.add_argument("--seed", type=int, default=0)
    logger_options(oracle)
    acting_options(oracle)
    oracle.set_defaults(func=cmd_best_response)

    play = sub.add_parser("play", help="put a policy on a Showdown server: accept challenges, or ladder")
    play.add_argument("policy", help="baseline, module.path:ClassName, checkpoint .pt, or mixture:POP:STRATEGY "
                                     "(a member drawn per battle)")
    play.add_argument("--server", required=True,
                      help="websocket URL, e.g. ws://127.0.0.1:8000/showdown/websocket or "
                           "wss://sim3.psim.us/showdown/websocket")
    games = play.add_mutually_exclusive_group(required=True)
    games.add_argument("--accept-challenges", type=_positive, metavar="N", help="accept N challenges, then stop")
    games.add_argument("--ladder", type=_positive, metavar="N", help="play N ladder games, then stop")
    play.add_argument("--username", default=None, help="account name (default: pokepsro + 6 random hex digits)")
    play.add_argument("--password-file", type=Path, help="file holding the account's password (first line)")
    play.add_argument("--login-server", default=None,
                      help="login server that checks the password (default: Showdown's, play.pokemonshowdown.com)")
    play.add_argument("--out", required=True, help="append one record per battle to this JSONL file")
    play.add_argument("--team-set", default="competitive", help="shipped team set or a folder of team files")
    play.add_argument("--format", default="gen1ou")
    play.add_argument("--seed", type=int, default=0, help="seed of the member and team draws and of their play")
    acting_options(play)
    play.set_defaults(func=cmd_play)

    criteria = sub.add_parser("criteria", help="print the success criteria of an analysis (success.json)")
    criteria.add_argument("success", type=Path, nargs="?", default=Path("results/analysis/success.json"))
    criteria.set_defaults(func=cmd_criteria)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (UsageError, SetupError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except SolverError as error:
        print(f"error: {error}", file=sys.stderr)
        return SOLVER_FAILURE_EXIT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
