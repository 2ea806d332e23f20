"""The results store: one JSON object per line in ``<results>/bench.jsonl``.

Each row is written with one ``write`` of a complete line, flushed and fsynced before the next
cell starts, so a crash or Ctrl-C loses at most the cell in progress. A torn last line (power
loss mid-write) is skipped when reading. A rerun skips cells whose key is already stored.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Iterator

STORE_NAME = "bench.jsonl"


def cell_key(parts: dict) -> str:
    """A stable id for what a cell measures (model content, settings, workload, device)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:20]


class ResultStore:
    def __init__(self, folder: Path):
        self.folder = folder
        self.path = folder / STORE_NAME

    def rows(self) -> Iterator[dict]:
        try:
            with open(self.path, encoding="utf-8") as f:
                for line in f:
                    try:
                        row = json.loads(line)
                    except json.JSONDecodeError:
                        continue  # a line torn by a crash: the cell is simply measured again
                    if isinstance(row, dict):
                        yield row
        except FileNotFoundError:
            return

    def completed(self) -> set[str]:
        return {row["cell"] for row in self.rows() if row.get("status") == "ok" and "cell" in row}

    def append(self, row: dict) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        line = json.dumps(row, separators=(",", ":"), default=str) + "\n"
        with open(self.path, "a", encoding="utf-8") as f:
            if f.tell() > 0 and not _ends_with_newline(self.path):
                f.write("\n")  # never glue a new row onto a torn one
            f.write(line)
            f.flush()
            os.fsync(f.fileno())


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"
