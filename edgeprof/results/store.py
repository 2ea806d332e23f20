"""The results store: one JSON object per line in ``<results>/bench.jsonl``.

Each row is written with one ``write`` of a complete line, flushed and fsynced before the next
cell starts, so a crash or Ctrl-C loses at most the cell in progress. A torn last line (power
loss mid-write) is skipped when reading. A rerun skips cells whose key is already stored.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

STORE_NAME = "bench.jsonl"


def cell_key(parts: dict) -> str:
    """A stable id for what a cell measures (model content, settings, workload, device)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:20]


def read_jsonl(path: Path, start: int = 0) -> Iterator[dict]:
    """The complete rows of a JSON Lines file we appended to (from byte ``start``); a line torn by a
    crash is skipped (its work is simply done again), a missing file has no rows."""
    try:
        with open(path, "rb") as f:
            f.seek(start)
            for line in f:
                try:
                    row = json.loads(line)
                except ValueError:  # torn JSON, or bytes cut inside a UTF-8 character
                    continue
                if isinstance(row, dict):
                    yield row
    except FileNotFoundError:
        return


def append_jsonl(path: Path, rows: list[dict]) -> None:
    """Append complete lines in one write, flushed and fsynced before returning."""
    if not rows:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(row, separators=(",", ":"), ensure_ascii=False, default=str) + "\n" for row in rows)
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

    def rows(self, since: int = 0) -> Iterator[dict]:
        """Every row, or those appended after byte ``since`` (a ``size()`` taken earlier)."""
        return read_jsonl(self.path, since)

    def size(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def completed(self) -> set[str]:
        return {row["cell"] for row in self.rows() if row.get("status") == "ok" and "cell" in row}

    def append(self, row: dict) -> None:
        append_jsonl(self.path, [row])


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"
