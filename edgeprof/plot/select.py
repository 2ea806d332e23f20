"""Choosing which recorded rows a figure shows: the reference scenario, sweeps over one setting,
the level to show a single run of."""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass

from edgeprof.results.read import level_of, level_rank, model_of, reference_rows, scenario_of

DEFAULT_LEVEL = "Q4_K_M"  # the level most edge deployments start from
SWEEP_HINTS = {"n_threads": " (e.g. bench -t 1,2,4)", "n_parallel": " (e.g. bench --parallel 1,4,16)",
                "n_gpu_layers": " (e.g. bench --ngl 0,8,all on a machine with a "
               "GPU and a GPU build of llama.cpp)"}  # the option that sweeps each setting, no other


class Skip(Exception):
    """A figure the recorded results cannot support; the message says what is missing."""


@dataclass(frozen=True)
class Series:
    """One model file's line/box/bar in a figure: coloured by level, marked by model."""
    model: str
    level: str
    synthetic: bool
    model_index: int  # 0, 1, ... in the order models appear: picks marker and line style
    several_models: bool  # whether the label must name the model
    file: str = ""  # where two different files share model, level and kind: which file (its name, or hash)

    @property
    def label(self) -> str:
        text = f"{self.model} · {self.level}" if self.several_models else self.level
        text = f"{text} [{self.file}]" if self.file else text
        return f"{text} (synthetic)" if self.synthetic else text


def by_series(rows: list[dict]) -> dict[Series, list[dict]]:
    """Rows grouped per model file, models in order of appearance, levels in precision order. Two
    different files (by content) of the same model, level and kind are two series, never one."""
    models = list(dict.fromkeys(model_of(r) for r in rows))
    files: dict[tuple, dict[str, str]] = defaultdict(dict)  # (model, level, synthetic) -> sha256 -> file name
    for row in rows:
        files[_what(row)].setdefault(row["model"].get("sha256") or "", row["model"].get("file") or "?")
    grouped: dict[Series, list[dict]] = defaultdict(list)
    for row in rows:
        model, level, synthetic = what = _what(row)
        names = files[what]
        sha = row["model"].get("sha256") or ""
        file = "" if len(names) == 1 else names[sha] if list(names.values()).count(names[sha]) == 1 else sha[:12]
        grouped[Series(model, level, synthetic, models.index(model), len(models) > 1, file)].append(row)
    order = sorted(grouped, key=lambda k: (k.model_index, level_rank(k.level), k.level, k.synthetic, k.file))
    return {key: grouped[key] for key in order}


def _what(row: dict) -> tuple[str, str, bool]:
    return model_of(row), level_of(row), bool(row["model"].get("synthetic"))


def shown_level(levels: list[str]) -> str:
    """The level whose single run a figure shows: Q4_K_M when present, else the middle one."""
    return DEFAULT_LEVEL if DEFAULT_LEVEL in levels else levels[len(levels) // 2]


def representative(level_rows: list[dict]) -> dict:
    """The one cell that stands for a level in tables and per-level points: the longest prompt."""
    return max(level_rows, key=lambda r: r["settings"].get("n_prompt") or 0)


def per_series(rows: list[dict]) -> dict[Series, dict]:
    """Each model file's representative row, in figure order."""
    return {key: representative(series_rows) for key, series_rows in by_series(rows).items()}


def one_run(rows: list[dict]) -> dict:
    """The representative reference cell that single-run figures show: the first model's Q4_K_M
    (or middle level)."""
    ref = [(key, row) for key, row in per_series(reference_rows(rows)).items() if key.model_index == 0]
    if not ref:
        raise Skip("no speed rows")
    level = shown_level([key.level for key, _ in ref])
    return next(row for key, row in ref if key.level == level)


def sweep(rows: list[dict], key: str) -> list[dict]:
    """The rows of the widest sweep over setting ``key``: grouped by every other setting (prompt
    length aside), the group with the most distinct values of ``key`` (ties: the most levels)."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        groups[scenario_of(row, without=key)].append(row)
    if not groups:
        raise Skip("no speed rows")
    best = max(groups.values(), key=lambda g: (len({r["settings"].get(key) for r in g}),
                                               len({level_of(r) for r in g})))
    if len({r["settings"].get(key) for r in best}) < 2:
        raise Skip(f"only one value of {key} was recorded; sweep it{SWEEP_HINTS.get(key, '')}")
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
