"""Choosing which recorded rows a figure shows: the reference scenario, sweeps over one setting,
the level to show a single run of."""

from __future__ import annotations

import statistics
from collections import defaultdict

from edgeprof.plot.data import SETTING_KEYS, level_of, reference_rows, sort_levels

DEFAULT_LEVEL = "Q4_K_M"  # the level most edge deployments start from


class Skip(Exception):
    """A figure the recorded results cannot support; the message says what is missing."""


def by_level(rows: list[dict]) -> dict[str, list[dict]]:
    grouped: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        grouped[level_of(row)].append(row)
    return {level: grouped[level] for level in sort_levels(grouped)}


def shown_level(levels: list[str]) -> str:
    """The level whose single run a figure shows: Q4_K_M when present, else the middle one."""
    return DEFAULT_LEVEL if DEFAULT_LEVEL in levels else levels[len(levels) // 2]


def representative(level_rows: list[dict]) -> dict:
    """The one cell that stands for a level in tables and per-level points: the longest prompt."""
    return max(level_rows, key=lambda r: r["settings"].get("n_prompt") or 0)


def per_level(rows: list[dict]) -> dict[str, dict]:
    """level -> its representative row, in precision order."""
    return {level: representative(level_rows) for level, level_rows in by_level(rows).items()}


def one_run(rows: list[dict]) -> dict:
    """The representative reference cell of the level single-run figures show."""
    ref = per_level(reference_rows(rows))
    if not ref:
        raise Skip("no speed rows")
    return ref[shown_level(list(ref))]


def sweep(rows: list[dict], key: str) -> list[dict]:
    """The rows of the widest sweep over setting ``key``: grouped by every other setting (prompt
    length aside), the group with the most distinct values of ``key`` (ties: the most levels)."""
    index = SETTING_KEYS.index(key)
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        settings = row.get("settings", {})
        rest = tuple(settings.get(k) for i, k in enumerate(SETTING_KEYS) if i != index)
        groups[rest].append(row)
    if not groups:
        raise Skip("no speed rows")
    best = max(groups.values(), key=lambda g: (len({r["settings"].get(key) for r in g}),
                                               len({level_of(r) for r in g})))
    if len({r["settings"].get(key) for r in best}) < 2:
        raise Skip(f"only one value of {key} was recorded; sweep it (e.g. bench -t 1,2,4 / --ngl 0,8,all)")
    return best


def median_by(rows: list[dict], key: str, metric: str) -> list[tuple]:
    """(setting value, median metric) pairs, sorted by the value (-1 = all layers sorts last)."""
    values: dict = defaultdict(list)
    for row in rows:
        value = row["metrics"].get(metric)
        if value is not None:
            values[row["settings"].get(key)].append(value)
    order = sorted(values, key=lambda v: (v == -1, v))
    return [(v, statistics.median(values[v])) for v in order]
