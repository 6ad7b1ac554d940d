"""Files in and out: a crashed or killed job never leaves a half-file that looks complete, and a file that cannot
be read is one UsageError naming it.

Writes are atomic (temp file, fsync, rename); a folder is built under a temp or work name and published whole.
Reads of JSON, JSONL and YAML live here once, so every artifact fails the same way.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml

from pokepsro.core.errors import UsageError

REPO_ROOT = Path(__file__).resolve().parents[2]  # the checkout: config/ and envs/ live here


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write to a temp file in the same folder, fsync, then rename over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def write_jsonl(path: str | os.PathLike, records: Iterable[dict]) -> Path:
    """Write a whole JSONL file atomically."""
    return atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in records))


def append_jsonl(path: str | os.PathLike, records: Iterable[dict]) -> None:
    """Append complete lines and fsync, so a kill loses at most the battle in flight."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """Read complete lines; a torn last line (killed writer) is ignored."""
    records = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if not line.endswith("\n"):
                break
            records.append(json.loads(line))
    return records


def read_json(path: str | os.PathLike, *required: str) -> dict:
    """A JSON object with the (dotted) keys `required`; a missing file, bad JSON or missing key is one UsageError."""
    try:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
    except FileNotFoundError:
        raise UsageError(f"{path}: file not found") from None
    except json.JSONDecodeError as error:
        raise UsageError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(document, dict):
        raise UsageError(f"{path}: expected a JSON object at the top level")
    for dotted in required:
        node = document
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                raise UsageError(f"{path}: missing key {dotted!r}; delete the file and rerun to rebuild it")
            node = node[part]
    return document


def read_yaml(path: str | os.PathLike, what: str = "config") -> dict:
    """A YAML mapping (an empty file is an empty one); `what` names the file in errors."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{what} file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise UsageError(f"{what} file {path} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"{what} file {path} must be a YAML mapping")
    return data


def publish_dir(work: str | os.PathLike, final: str | os.PathLike) -> Path:
    """Move a finished folder to `final`, replacing what was there: it appears only when complete."""
    final = Path(final)
    if final.exists():
        shutil.rmtree(final)
    os.replace(work, final)
    return final


@contextlib.contextmanager
def atomic_output_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Build a directory under a temp name; it appears at `path` only when complete."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        yield tmp
        publish_dir(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def partial_dir(final: str | os.PathLike) -> Path:
    """The hidden work folder beside `final` in which a job builds it."""
    final = Path(final)
    return final.with_name(f".{final.name}.partial")


def partial_records(out: str | os.PathLike) -> Path:
    """The hidden file beside `out` in which a job appends its battle records until `out` is written."""
    out = Path(out)
    return out.with_name(f".{out.name}.records.partial")


def resumable_dir(final: str | os.PathLike) -> Path:
    """A stable work folder next to `final`, so a killed job's shards are reused on rerun.

    Shards are named by battle index and written before the battle's record, so a battle without a record
    is replayed and overwrites its own shard: the folder never holds a battle twice. A shard that a killed
    job was writing is left as a temp file; it is removed here, as its battle has no record and is replayed.
    """
    work = partial_dir(final)
    work.mkdir(parents=True, exist_ok=True)
    for half_written in work.glob(".*.tmp"):
        half_written.unlink()
    return work
