"""Recorded results, read back for plots and reports: rows from one or more results folders
(one per device), grouped the way the figures need them. Nothing here runs a model.

Only valid rows are read (``results.validate``; the others are counted in ``Results.skipped``).
Of the rows that measured the same thing (``rows.measured``) on the same device, the latest is kept:
a rerun replaces the earlier measurement. Each device gets a label of its own: two folders whose
rows carry the same device name are two devices, told apart by their folders."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from edgeprof import levels as quant_levels
from edgeprof.errors import fail
from edgeprof.results.rows import measured, of_kind
from edgeprof.results.store import STORE_NAME, Skipped, read_rows

# Precision order of llama.cpp's levels (most precise first). It fixes each level's colour and
# the order of every legend, so a level looks the same in every figure.
LEVEL_ORDER = ("F32", "BF16", "F16", "Q8_0", "Q6_K", "Q5_K_M", "Q5_K_S", "Q5_1", "Q5_0", "Q4_K_M", "Q4_K_S",
               "Q4_1", "Q4_0", "IQ4_NL", "IQ4_XS", "Q3_K_L", "Q3_K_M", "Q3_K_S", "IQ3_M", "IQ3_S", "IQ3_XS",
               "IQ3_XXS", "Q2_K", "Q2_K_S", "IQ2_M", "IQ2_S", "IQ2_XS", "IQ2_XXS", "IQ1_M", "IQ1_S")
UNQUANTIZED = tuple(quant_levels.UNQUANTIZED)
# The settings that make a speed cell; n_prompt varies within one "scenario" (see reference_rows).
SETTING_KEYS = ("n_threads", "n_gpu_layers", "n_batch", "n_ubatch", "flash_attn", "type_k", "type_v", "n_gen",
                "n_depth", "repetitions", "prompt", "prompt_sha256", "n_parallel", "load_mode", "cold")
# A key readers add to the rows they read (never written): the label of the device a row was measured
# on, unique across the folders read.
DEVICE = "_device"


def level_rank(level: str | None) -> int:
    return LEVEL_ORDER.index(level) if level in LEVEL_ORDER else len(LEVEL_ORDER)


def sort_levels(levels) -> list[str]:
    return sorted(set(levels), key=lambda lv: (level_rank(lv), lv or ""))


def device_of(row: dict) -> str:
    """The label of the device ``row`` was measured on (``load_results`` makes labels unique)."""
    label = row.get(DEVICE)
    return label if isinstance(label, str) else _name_of(row.get("system") or {})


def _name_of(system: dict) -> str:
    return system.get("device_name") or system.get("device_model") or system.get("hostname") or "unknown device"


def level_of(row: dict) -> str:
    return row["model"].get("level") or row["model"].get("file", "?")


def model_of(row: dict) -> str:
    return row["model"].get("name") or row["model"].get("file", "?")


@dataclass
class Results:
    """The latest successful row of each measurement in the given folders, in file order."""
    folders: tuple[Path, ...]
    rows: list[dict] = field(default_factory=list)
    skipped: Skipped = field(default_factory=Skipped)  # lines that were not valid rows
    replaced: int = 0  # rows that a later row of the same measurement replaced

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
    """Read ``bench.jsonl`` of each folder (a folder may also be given as the file itself; a folder
    given twice is read once)."""
    paths = {}
    for folder in folders:
        path = folder if folder.is_file() else folder / STORE_NAME
        if not path.exists():
            raise fail("no_results", path=folder)
        paths.setdefault(path.resolve(), folder)
    results = Results(tuple(paths.values()))
    found = [(folder, row) for path, folder in paths.items() for row in read_rows(path, skipped=results.skipped)
             if row["status"] == "ok"]
    labels = _device_labels([_device_key(folder, row) for folder, row in found])
    latest: dict[tuple[str, str], dict] = {}
    for folder, row in found:
        row[DEVICE] = labels[_device_key(folder, row)]
        key = (measured(row), row[DEVICE])
        latest.pop(key, None)  # the later row of the same measurement wins, in its own place
        latest[key] = row
    results.rows = list(latest.values())
    results.replaced = len(found) - len(results.rows)
    if not results.rows:
        where = ", ".join(str(f) for f in results.folders)
        if results.skipped:
            (path, line), why = next(iter(results.skipped.lines.items()))
            raise fail("results_all_skipped", paths=where, n=len(results.skipped), first=f"{path}:{line} ({why})")
        raise fail("results_empty", paths=where)
    return results


def _device_key(folder: Path, row: dict) -> tuple[str, str, str]:
    """(folder, device fingerprint, device name): one device of the results."""
    system = row.get("system") or {}
    return str(folder), str(system.get("device_id")), _name_of(system)


def _device_labels(keys: list[tuple[str, str, str]]) -> dict[tuple[str, str, str], str]:
    """Each device's label: its name, and where two devices share a name, the folder (and the
    fingerprint, for two devices in one folder) that tell them apart."""
    by_name: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for key in dict.fromkeys(keys):
        by_name[key[2]].append(key)
    labels = {}
    for name, same in by_name.items():
        for folder, device_id, _ in same:
            apart = []
            if len({k[0] for k in same}) > 1:
                apart.append(folder)
            if len({k[1] for k in same if k[0] == folder}) > 1:
                apart.append(f"device id {device_id}")
            labels[(folder, device_id, name)] = f"{name} ({', '.join(apart)})" if apart else name
    taken: dict[str, int] = {}
    for key, label in labels.items():  # a label that is still not unique gets a number
        taken[label] = taken.get(label, 0) + 1
        if taken[label] > 1:
            labels[key] = f"{label} #{taken[label]}"
    return labels


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
        setting = dict(zip(SETTING_KEYS, scenario))
        threads, ngl = setting["n_threads"] or 0, setting["n_gpu_layers"] or 0
        # one user, a warm load: what a level's speed means unless a figure sweeps otherwise
        plain = (setting["n_parallel"] or 1) == 1 and not setting["cold"]
        return (len({level_of(r) for r in rows}), plain, threads, ngl if ngl >= 0 else 10**6)

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
