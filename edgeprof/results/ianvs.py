"""A run's accuracy and speed as an Ianvs leaderboard (its ``rank/all_rank.csv`` / ``selected_rank.csv``).

The layout is what Ianvs's story manager writes (kubeedge/ianvs, core/storymanager/rank/rank.py):
pandas' ``to_csv(index_label="rank", sep=" ")``, so cells are separated by one space and a cell
holding a space is double-quoted; the columns are ``rank algorithm <metrics> paradigm <modules>
<module-hyperparameters> time url``, time as ``%Y-%m-%d %H:%M:%S`` (core/common/utils.py). The
metric names and units follow Ianvs's LLM edge benchmark suite
(examples/llm-edge-benchmark-suite: latency ms per request, throughput tokens/s, prefill_latency
ms to the first token, mem_usage bytes) and its accuracy/precision/recall/f1 for MMLU/CMMLU.

One line per model file and device: ``algorithm`` the model, ``paradigm`` singletasklearning (a
model measured as it is), the ``basemodel`` module llama.cpp with the file, its level, the
threads/GPU layers it ran with and whether the task was chat-prompted as hyperparameters (plain and
chat-prompted accuracy are two lines); accuracy (a fraction, with its standard error)
on one task, the speed figures from the speed row of the settings that compare the most levels.
A figure edgeprof did not measure is written as a quoted empty cell, which pandas (and so Ianvs,
reading a leaderboard back) reads as missing; it is never 0. Lines are ranked by accuracy, then
latency, as an Ianvs ``sort_by`` of accuracy descend, latency ascend would.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from edgeprof.results.read import device_of, model_of, reference_rows

PARADIGM = "singletasklearning"
MODULE = "basemodel"
HYPERPARAMETERS = ("model_path", "quant", "n_threads", "n_gpu_layers", "device", "chat")
TASK_METRICS = (("accuracy", "acc"), ("accuracy_stderr", "acc_stderr"), ("precision", "precision"),
                ("recall", "recall"), ("f1", "f1"))
SPEED_METRICS = ("latency", "throughput", "prefill_latency", "mem_usage")
HEADLINE = ("acc_norm", "acc", "exact_match")  # the task's score, as report.py's leaderboard picks it


@dataclass(frozen=True)
class Line:
    algorithm: str
    metrics: dict[str, float | None]
    hyperparameters: dict[str, str | None]
    time: str
    url: str


def leaderboard(rows: list[dict], task: str | None) -> list[list[str | None]]:
    """The leaderboard, header first: one line per model file and device with a speed or task row."""
    task_rows = [r for r in rows if r.get("kind") == "task" and (task is None or r["task"]["name"] == task)]
    task = task or (task_rows[0]["task"]["name"] if task_rows else None)
    task_rows = [r for r in task_rows if r["task"]["name"] == task]
    speed = [r for r in rows if r.get("kind", "speed") == "speed"]
    lines = [_line(key, group, speed) for key, group in _groups(task_rows, speed).items()]
    names = [m for m, _ in TASK_METRICS if any(line.metrics.get(m) is not None for line in lines)]
    names = ["accuracy", "accuracy_stderr", *[n for n in names if n not in ("accuracy", "accuracy_stderr")]]
    lines.sort(key=lambda line: (-(line.metrics.get("accuracy") or -1.0), line.metrics.get("latency") or float("inf")))
    header = ["rank", "algorithm", *names, *SPEED_METRICS, "paradigm", MODULE,
              *(f"{MODULE}-{h}" for h in HYPERPARAMETERS), "time", "url"]
    table: list[list[str | None]] = [header]
    for rank, line in enumerate(lines, 1):
        table.append([str(rank), line.algorithm, *(_number(line.metrics.get(m)) for m in (*names, *SPEED_METRICS)),
                      PARADIGM, "llama.cpp", *(line.hyperparameters.get(h) for h in HYPERPARAMETERS), line.time,
                      line.url])
    return table


def _groups(task_rows: list[dict], speed: list[dict]) -> dict[tuple, list[dict]]:
    """(file, device, chat) -> its task row and the file's speed rows on that device: plain and
    chat-prompted accuracy are two lines (two settings of one algorithm); a file with speed rows and
    no accuracy is one line."""
    def place(row: dict) -> tuple[str, str]:
        return row["model"].get("sha256") or row["model"]["path"], device_of(row)

    out: dict[tuple, list[dict]] = {}
    for row in task_rows:
        out.setdefault((*place(row), bool(row["task"].get("chat"))), []).append(row)
    for row in speed:
        keys = [k for k in out if k[:2] == place(row)] or [(*place(row), None)]
        for key in keys:
            out.setdefault(key, []).append(row)
    return out


def _line(key: tuple, rows: list[dict], all_speed: list[dict]) -> Line:
    device, chat = key[1], key[2]
    tasks = [r for r in rows if r.get("kind") == "task"]
    reference = {id(r) for r in reference_rows([r for r in all_speed if device_of(r) == device])}
    speed = [r for r in rows if r.get("kind", "speed") == "speed" and id(r) in reference] or \
            [r for r in rows if r.get("kind", "speed") == "speed"]
    row = max(speed, key=lambda r: (r["settings"].get("n_prompt") or 0, r["settings"].get("n_gen") or 0),
              default=None)
    metrics = {**_speed_metrics(row), **_task_metrics(tasks[-1] if tasks else None)}
    first = row or tasks[-1]
    settings = first["settings"]
    return Line(algorithm=model_of(first), metrics=metrics,
                hyperparameters={"model_path": first["model"].get("path"), "quant": first["model"].get("level"),
                                 "n_threads": _text(settings.get("n_threads")),
                                 "n_gpu_layers": _text(settings.get("n_gpu_layers")), "device": device,
                                 "chat": None if chat is None else str(chat).lower()},
                time=_ianvs_time(first.get("timestamp")), url=first.get("details") or first["model"].get("path"))


def _task_metrics(row: dict | None) -> dict[str, float | None]:
    if row is None:
        return {}
    m = row["metrics"]
    headline = next((k for k in HEADLINE if m.get(k) is not None), None)
    out = {"accuracy": m.get(headline) if headline else None,
           "accuracy_stderr": m.get(f"{headline}_stderr") if headline else None}
    out.update({name: m.get(key) for name, key in TASK_METRICS[2:]})
    return out


def _speed_metrics(row: dict | None) -> dict[str, float | None]:
    if row is None:
        return {}
    m, memory = row["metrics"], row.get("memory") or {}
    rss = memory.get("peak_rss_mb")
    return {"latency": m.get("total_ms_mean"), "throughput": m.get("tg_tps_mean"),
            "prefill_latency": m.get("ttft_ms_mean"), "mem_usage": None if rss is None else rss * 2**20}


def _number(value) -> str | None:
    if value is None:
        return None
    return f"{value:.0f}" if abs(value) >= 1e6 else f"{value:.6g}"


def _text(value) -> str | None:
    return None if value is None else str(value)


def _ianvs_time(timestamp: str | None) -> str | None:
    if not timestamp:
        return None
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.strptime(timestamp[:19], "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return timestamp


def to_csv(table: list[list[str | None]]) -> str:
    """Space-separated as pandas writes with sep=" ": a cell holding a space or a quote is quoted;
    a missing figure is a quoted empty cell (a bare one would vanish between two spaces)."""
    return "".join(" ".join(_cell(c) for c in line) + "\n" for line in table)


def _cell(value: str | None) -> str:
    if value is None or value == "":
        return '""'
    if any(c in value for c in ' "\n'):
        return '"' + value.replace('"', '""') + '"'
    return value
