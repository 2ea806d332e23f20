"""lm-evaluation-harness ``results.json`` files, read so a report shows their scores beside edgeprof's.

lm-eval 0.4 writes ``results_<date>.json`` (or ``results.json``) with ``results`` mapping each task
to ``"<metric>,<filter>"`` keys (``"acc,none"``, ``"acc_stderr,none"``, ``"exact_match,strict-match"``;
a stderr it did not compute is the string ``"N/A"``), beside ``configs``, ``versions``, ``n-shot``,
``n-samples`` and the run's ``config`` (``model``, ``model_args``). Only those keys are read; the
rest of the file may hold anything. A task's name in lm-eval and in edgeprof are the same for the
tasks both have (hellaswag, mmlu, arc_easy, arc_challenge, gsm8k, truthfulqa_mc1, sst2, cmmlu, ...),
and so are the metric names (acc, acc_norm, exact_match, f1), so scores are paired by those.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from edgeprof.errors import fail
from edgeprof.results.read import device_of, level_of, model_of

MAX_BYTES = 64 << 20  # a results file is kilobytes; lm-eval's per-sample logs are other files
METRICS = ("acc", "acc_norm", "exact_match", "f1", "mcc", "precision", "recall")  # comparable proportions


@dataclass(frozen=True)
class LmEvalScore:
    file: str
    model: str
    task: str
    metric: str
    filter: str
    value: float
    stderr: float | None
    shots: int | None
    n: int | None


def read_lm_eval(path: Path) -> list[LmEvalScore]:
    """Every proportion metric of every task in ``path``; one clear error when it is not such a file."""
    data = _load(path)
    results = data.get("results")
    if not isinstance(results, dict) or not results:
        raise fail("lm_eval_file", path=path, detail="no 'results' table of tasks (lm-eval 0.4 writes one)")
    model = _model_name(data)
    shots, samples = _table(data, "n-shot"), _table(data, "n-samples")
    scores = []
    for task, metrics in results.items():
        if not isinstance(metrics, dict):
            raise fail("lm_eval_file", path=path, detail=f"results.{task} is not a table of metrics")
        for key, value in metrics.items():
            name, _, filter_ = str(key).partition(",")
            if name not in METRICS or not _finite(value):
                continue
            stderr = metrics.get(f"{name}_stderr,{filter_}")
            n = samples.get(task, {}).get("effective") if isinstance(samples.get(task), dict) else None
            scores.append(LmEvalScore(path.name, model, str(task), name, filter_ or "none", float(value),
                                      float(stderr) if _finite(stderr) else None,
                                      _int(shots.get(task)), _int(n)))
    if not scores:
        raise fail("lm_eval_file", path=path, detail=f"no {', '.join(METRICS)} score in its results")
    return scores


def _load(path: Path) -> dict:
    try:
        if path.stat().st_size > MAX_BYTES:
            raise fail("lm_eval_file", path=path, detail=f"larger than {MAX_BYTES >> 20} MiB: not a results file")
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise fail("lm_eval_file", path=path, detail=exc.strerror or str(exc)) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise fail("lm_eval_file", path=path, detail=f"not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise fail("lm_eval_file", path=path, detail="not a JSON object")
    return data


def _model_name(data: dict) -> str:
    config = data.get("config") if isinstance(data.get("config"), dict) else {}
    name = data.get("model_name") or config.get("model_args") or config.get("model") or "?"
    return str(name)[:200]


def _table(data: dict, key: str) -> dict:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _int(value) -> int | None:
    return int(value) if _finite(value) else None


COLUMNS = ("task", "metric", "lm-eval model", "shots", "n", "lm-eval", "edgeprof model", "level", "device", "shots",
           "n", "edgeprof")


def comparison(scores: list[LmEvalScore], task_rows: list[dict]) -> list[tuple[str, ...]]:
    """One line per lm-eval score and edgeprof row of the same task and metric (an lm-eval score
    with no edgeprof row keeps its line, its edgeprof side shown as –): value ± standard error."""
    lines = []
    for score in scores:
        theirs = (score.task, score.metric + ("" if score.filter == "none" else f" ({score.filter})"), score.model,
                  _text(score.shots), _text(score.n), _pm(score.value, score.stderr))
        ours = [r for r in task_rows if r["task"]["name"] == score.task and r["metrics"].get(score.metric) is not None]
        for row in ours or [None]:
            lines.append(theirs + _ours(row, score.metric))
    return lines


def _ours(row: dict | None, metric: str) -> tuple[str, ...]:
    if row is None:
        return ("–",) * 6
    m, task = row["metrics"], row["task"]
    chat = " (chat)" if task.get("chat") else ""
    return (model_of(row) + chat, level_of(row), device_of(row), _text(task.get("shots")), _text(m.get("n")),
            _pm(m[metric], m.get(f"{metric}_stderr")))


def _pm(value: float, stderr: float | None) -> str:
    return f"{value:.4f} ± {stderr:.4f}" if stderr is not None else f"{value:.4f} (no stderr)"


def _text(value) -> str:
    return "–" if value is None else str(value)
