"""Recorded results, read back for plots and reports: rows from one or more results folders
(one per device), grouped the way the figures need them. Nothing here runs a model."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from edgeprof import levels as quant_levels
from edgeprof.errors import fail
from edgeprof.results.rows import of_kind
from edgeprof.results.store import STORE_NAME, read_jsonl

# Precision order of llama.cpp's levels (most precise first). It fixes each level's colour and
# the order of every legend, so a level looks the same in every figure.
LEVEL_ORDER = ("F32", "BF16", "F16", "Q8_0", "Q6_K", "Q5_K_M", "Q5_K_S", "Q5_1", "Q5_0", "Q4_K_M", "Q4_K_S",
               "Q4_1", "Q4_0", "IQ4_NL", "IQ4_XS", "Q3_K_L", "Q3_K_M", "Q3_K_S", "IQ3_M", "IQ3_S", "IQ3_XS",
               "IQ3_XXS", "Q2_K", "Q2_K_S", "IQ2_M", "IQ2_S", "IQ2_XS", "IQ2_XXS", "IQ1_M", "IQ1_S")
UNQUANTIZED = tuple(quant_levels.UNQUANTIZED)
# The settings that make a speed cell; n_prompt varies within one "scenario" (see reference_rows).
SETTING_KEYS = ("n_threads", "n_gpu_layers", "n_batch", "n_ubatch", "flash_attn", "type_k", "type_v", "n_gen",
                "n_depth", "repetitions", "prompt")


def level_rank(level: str | None) -> int:
    return LEVEL_ORDER.index(level) if level in LEVEL_ORDER else len(LEVEL_ORDER)


def sort_levels(levels) -> list[str]:
    return sorted(set(levels), key=lambda lv: (level_rank(lv), lv or ""))


def device_of(row: dict) -> str:
    system = row.get("system") or {}
    return system.get("device_name") or system.get("device_model") or system.get("hostname") or "unknown device"


def level_of(row: dict) -> str:
    return row["model"].get("level") or row["model"].get("file", "?")


def model_of(row: dict) -> str:
    return row["model"].get("name") or row["model"].get("file", "?")


@dataclass
class Results:
    """Every complete, successful row of the given folders, in file order."""
    folders: tuple[Path, ...]
    rows: list[dict] = field(default_factory=list)

    def of_kind(self, kind: str) -> list[dict]:
        return of_kind(self.rows, kind)

    @property
    def speed(self) -> list[dict]:
        return self.of_kind("speed")

    @property
    def devices(self) -> list[str]:
        return list(dict.fromkeys(device_of(r) for r in self.rows))

    @property
    def models(self) -> list[str]:
        return list(dict.fromkeys(model_of(r) for r in self.rows))

    def system_of(self, device: str) -> dict:
        return next((r.get("system") or {} for r in self.rows if device_of(r) == device), {})


def load_results(folders: list[Path]) -> Results:
    """Read ``bench.jsonl`` of each folder (a folder may also be given as the file itself)."""
    results = Results(tuple(folders))
    for folder in folders:
        path = folder if folder.is_file() else folder / STORE_NAME
        if not path.exists():
            raise fail("no_results", path=folder)
        results.rows += [r for r in read_jsonl(path) if r.get("status", "ok") == "ok" and "model" in r]
    if not results.rows:
        raise fail("results_empty", paths=", ".join(str(f) for f in folders))
    return results


def scenario_of(row: dict, without: str | None = None) -> tuple:
    """The row's settings other than prompt length (and other than ``without``, when a figure sweeps it)."""
    settings = row.get("settings", {})
    return tuple(settings.get(k) for k in SETTING_KEYS if k != without)


def reference_rows(speed_rows: list[dict]) -> list[dict]:
    """The speed rows of the scenario that compares the most levels (ties: the most threads,
    then the most GPU layers): the settings the per-level figures and tables use."""
    by_scenario: dict[tuple, list[dict]] = defaultdict(list)
    for row in speed_rows:
        by_scenario[scenario_of(row)].append(row)
    if not by_scenario:
        return []

    def score(item):
        scenario, rows = item
        threads, ngl = scenario[0] or 0, scenario[1] or 0
        return (len({level_of(r) for r in rows}), threads, ngl if ngl >= 0 else 10**6)

    return max(by_scenario.items(), key=score)[1]


def settings_line(rows: list[dict]) -> str:
    """The settings the rows share, as a caption fragment ("threads 2, ngl 0, n_gen 32, 3 reps")."""
    if not rows:
        return ""
    labels = (("n_threads", "threads"), ("n_gpu_layers", "ngl"), ("n_prompt", "prompt"), ("n_gen", "gen"),
              ("n_depth", "depth"), ("repetitions", "reps"), ("flash_attn", "flash attn"), ("type_k", "KV"))
    parts = []
    for key, label in labels:
        values = list(dict.fromkeys(r.get("settings", {}).get(key) for r in rows))
        values = [v for v in values if v is not None]
        if not values:
            continue
        shown = ",".join("all" if key == "n_gpu_layers" and v == -1 else str(v) for v in values)
        parts.append(f"{label} {shown}")
    return ", ".join(parts)


def device_line(results: Results, devices: list[str]) -> str:
    parts = []
    for device in devices:
        system = results.system_of(device)
        gpus = ", ".join(g.get("name", "?") for g in system.get("gpus") or [])
        cpu = system.get("cpu_model", "?")
        cores = system.get("cpu_affinity") or system.get("cpu_cores_logical")
        parts.append(f"{device} ({cpu}{f', {cores} cores' if cores else ''}{f', {gpus}' if gpus else ''})")
    return "; ".join(parts)


def timeline_of(row: dict, repetition: int = 0) -> list[float]:
    """The per-token decode latencies (ms) of one repetition of a speed row."""
    latencies = row["metrics"].get("token_latencies_ms") or []
    counts = row["metrics"].get("tokens_per_repetition")
    if not counts:  # rows from before per-repetition counts: equal split
        reps = max(1, row.get("settings", {}).get("repetitions") or 1)
        counts = [len(latencies) // reps] * reps
    start = sum(counts[:repetition])
    return latencies[start:start + counts[repetition]]
