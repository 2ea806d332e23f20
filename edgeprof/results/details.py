"""Per-example outcomes of a task row: the JSON Lines file its ``details`` names (one line per
question: id, group, gold, pred and a 0/1 per metric), read back so levels can be compared
question by question."""

from __future__ import annotations

from pathlib import Path

from edgeprof.results.store import read_jsonl


def details_path(folders: tuple[Path, ...], row: dict) -> Path | None:
    """The outcomes file of ``row`` in the first results folder that holds it. The name is the
    row's cell key (file content, settings, task, device), so the same name in two folders is the
    same measurement. A name that leaves its folder (absolute, ``..``) is never read."""
    name = row.get("details")
    if not name or not isinstance(name, str):
        return None
    for folder in folders:
        root = (folder if folder.is_dir() else folder.parent).resolve()
        try:
            path = (root / name).resolve()
        except (OSError, ValueError):  # a NUL byte, a link loop: no file of ours
            return None
        if path.is_relative_to(root) and path.is_file():
            return path
    return None


def task_outcomes(folders: tuple[Path, ...], row: dict) -> dict[str, dict] | None:
    """Question id -> its outcome, or None where the file is gone (rows copied without their
    ``tasks/`` folder). A question scored twice (a resumed run) keeps its last line."""
    path = details_path(folders, row)
    if path is None:
        return None
    return {o["id"]: o for o in read_jsonl(path) if isinstance(o.get("id"), (str, int))} or None
