"""`edgeprof report --format opencompass|ianvs`: a run's results written in another tool's table layout."""

from __future__ import annotations

from pathlib import Path

from edgeprof.errors import fail
from edgeprof.results.read import Results

FILES = {"opencompass": "opencompass_summary.csv", "ianvs": "ianvs_rank.csv"}


def export_text(results: Results, fmt: str, task: str | None = None) -> str:
    """The table of ``fmt`` (opencompass or ianvs) as its CSV text."""
    task_rows = results.of_kind("task")
    if fmt == "opencompass":
        from edgeprof.results import opencompass

        if not task_rows:
            raise fail("export_no_tasks", format=fmt)
        return opencompass.to_csv(opencompass.summary_table(task_rows))
    from edgeprof.results import ianvs

    if not task_rows and not results.speed:
        raise fail("export_no_tasks", format=fmt)
    return ianvs.to_csv(ianvs.leaderboard(results.rows, task))


def write_export(results: Results, out: Path, fmt: str, task: str | None = None) -> Path:
    from edgeprof.atomic import atomic_write_text

    path = out / FILES[fmt]
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, export_text(results, fmt, task))
    return path
