"""The results store: one JSON object per line in ``<results>/bench.jsonl``.

Each row is written with one ``write`` of a complete line, flushed and fsynced before the next
cell starts, so a crash or Ctrl-C loses at most the cell in progress. A rerun skips cells whose key
is already stored.

Reading is bounded: a line longer than ``MAX_LINE`` is never held in memory, and rows are checked
(``results.validate``) before any reader sees them. A line that is not a valid row (torn by a
crash, edited by hand, written by something else) is skipped and counted with its file and line in
``Skipped``, which the CLI prints once; a row of a newer schema stops the reading with one line.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from edgeprof.errors import fail
from edgeprof.results.rows import SCHEMA
from edgeprof.results.validate import first_unusable_number, newer_schema, problem

STORE_NAME = "bench.jsonl"
MAX_LINE = 16 * 2**20  # bytes; a sustained run's row (timeline, per-token latencies) is well under 1 MiB
SHOWN_SKIPS = 5  # places the note names before "and N more"


def cell_key(parts: dict, device_name: str | None = None) -> str:
    """A stable id for what a cell measures: model content, settings, workload and the device's
    fingerprint (in ``parts``), and the name its rows give the device. Keys made before the name was
    part of them are ``cell_key(parts)``: ``ResultStore.completed`` maps those onto today's keys."""
    key = _digest(parts)
    return key if device_name is None else named_key(key, device_name)


def named_key(key: str, device_name: str) -> str:
    """``key`` with the device's name made part of it."""
    return _digest({"cell": key, "device_name": device_name})


def _digest(parts: dict) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:20]


@dataclass
class Skipped:
    """Lines readers left out, each with its file, line number and why; a line read twice (the
    bench resume and the printing read the same store) is counted once."""
    lines: dict[tuple[str, int], str] = field(default_factory=dict)

    def add(self, path: Path, line: int, why: str) -> None:
        self.lines.setdefault((str(path), line), why)

    def __len__(self) -> int:
        return len(self.lines)

    def note(self) -> str | None:
        """The one line the CLI prints, or None when nothing was skipped."""
        if not self.lines:
            return None
        places = "; ".join(f"{path}:{line} ({why})" for (path, line), why in list(self.lines.items())[:SHOWN_SKIPS])
        more = f"; and {len(self.lines) - SHOWN_SKIPS} more" if len(self.lines) > SHOWN_SKIPS else ""
        return str(fail("rows_skipped", n=len(self.lines), places=places, more=more))


def _lines(path: Path, start: int = 0) -> Iterator[tuple[int, bytes | None]]:
    """(line number counted from ``start``, the line's bytes) of each line; None for a line longer
    than MAX_LINE, which is read past in pieces, never held whole. A missing file has no lines."""
    try:
        with open(path, "rb") as f:
            f.seek(start)
            number = 0
            while line := f.readline(MAX_LINE + 1):
                number += 1
                if len(line) > MAX_LINE and not line.endswith(b"\n"):
                    while line and not line.endswith(b"\n"):
                        line = f.readline(2**20)
                    yield number, None
                    continue
                yield number, line
    except FileNotFoundError:
        return


def _parse(line: bytes | None) -> tuple[object, str | None]:
    """(the line's JSON value, None) or (None, why it is not one)."""
    if line is None:
        return None, str(fail("row_too_long", limit=MAX_LINE // 2**20))
    try:
        return json.loads(line.decode("utf-8")), None
    except UnicodeDecodeError:
        return None, str(fail("row_not_utf8"))
    except RecursionError:
        return None, str(fail("row_too_deep"))
    except ValueError as exc:  # torn by a crash, edited by hand; also ints of more than 4300 digits
        detail = f"{exc.msg} at column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else str(exc)
        return None, str(fail("row_not_json", detail=detail))


def read_jsonl(path: Path, start: int = 0) -> Iterator[dict]:
    """The JSON objects of a JSON Lines file we appended to (from byte ``start``), for files that are
    not result rows (task answers, the hub's record); a line that is not one (torn by a crash, too
    long, NaN/Infinity inside) is skipped: its work is simply done again."""
    for _, line in _lines(path, start):
        value, _ = _parse(line)
        if isinstance(value, dict) and first_unusable_number(value) is None:
            yield value


def read_rows(path: Path, start: int = 0, skipped: Skipped | None = None) -> Iterator[dict]:
    """The valid result rows of ``path`` (from byte ``start``), in file order. Each other line is
    added to ``skipped`` with why (blank lines aside); a row of a newer schema than this edgeprof
    reads raises the one-line error saying so."""
    first_line = None  # line number of byte ``start``: counted only when a line must be named
    for number, line in _lines(path, start):
        if line is not None and not line.strip():
            continue
        value, why = _parse(line)
        if why is None and (schema := newer_schema(value)) is not None:
            first_line = first_line or _line_at(path, start)
            raise fail("rows_future_schema", path=path, line=first_line + number - 1, schema=schema, ours=SCHEMA)
        why = why or problem(value)
        if why is None:
            yield value  # type: ignore[misc]
        elif skipped is not None:
            first_line = first_line or _line_at(path, start)
            skipped.add(path, first_line + number - 1, why)


def _line_at(path: Path, offset: int) -> int:
    """The line number (from 1) of the line starting at byte ``offset``."""
    count = 1
    with open(path, "rb") as f:
        while offset > 0:
            chunk = f.read(min(offset, 2**20))
            if not chunk:
                break
            count += chunk.count(b"\n")
            offset -= len(chunk)
    return count


def finite(value):
    """``value`` with every NaN or infinity replaced by None: not measured, never a number. Python's
    json would write them as NaN/Infinity, which is not JSON and which readers refuse."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def append_jsonl(path: Path, rows: list[dict]) -> None:
    """Append complete lines in one write, flushed and fsynced before returning."""
    if not rows:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(finite(row), separators=(",", ":"), ensure_ascii=False, default=str) + "\n"
                   for row in rows)
    try:
        with open(path, "a", encoding="utf-8") as f:
            if f.tell() > 0 and not _ends_with_newline(path):
                f.write("\n")  # never glue a new row onto a torn one
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:  # disk full: the earlier rows are intact, a torn last line is skipped on reading
        exc.filename = exc.filename or str(path)
        raise


class ResultStore:
    def __init__(self, folder: Path):
        self.folder = folder
        self.path = folder / STORE_NAME
        self.skipped = Skipped()  # lines of this store that were not valid rows, for the CLI's note

    def rows(self, since: int = 0) -> Iterator[dict]:
        """Every valid row, or those appended after byte ``since`` (a ``size()`` taken earlier)."""
        return read_rows(self.path, since, self.skipped)

    def size(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def completed(self) -> set[str]:
        """The cell keys of the successful rows. A row keyed before the device's name was part of
        cell keys counts under the key it would have today (same file, settings, prompt and device):
        an existing store is not measured again for it."""
        done = set()
        for row in self.rows():
            if row["status"] == "ok":
                done.add(row["cell"])
                if isinstance(name := row["system"].get("device_name"), str):
                    done.add(named_key(row["cell"], name))
        return done

    def append(self, row: dict) -> None:
        append_jsonl(self.path, [row])


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"
