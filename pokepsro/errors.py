"""Errors the user can fix; the CLI turns them into one line and exit code 2."""


class UsageError(Exception):
    """Bad input: names the bad thing and what to do instead."""


class SetupError(Exception):
    """The environment is incomplete (Node or the Showdown install is missing)."""
