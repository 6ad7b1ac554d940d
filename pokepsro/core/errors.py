"""Errors the user can fix; the CLI turns them into one line and exit code 2."""


class UsageError(Exception):
    """Bad input: names the bad thing and what to do instead."""


class SetupError(Exception):
    """The environment is incomplete (Node or the Showdown install is missing)."""


class SolverError(Exception):
    """A numerical method failed on valid input (e.g. the Nash LP); one line naming the file, exit code 1."""


SOLVER_FAILURE_EXIT = 1


def require_exact_keys(config: dict, keys, what: str) -> None:
    """A config must name exactly the known keys: a typo is an error, not a silently ignored setting."""
    unknown = sorted(set(config) - set(keys))
    missing = [key for key in keys if key not in config]
    if unknown or missing:
        raise UsageError(f"{what} config has unknown keys {unknown} / lacks keys {missing}; "
                         f"expected exactly {', '.join(keys)}")
