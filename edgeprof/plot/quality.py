"""Quality numbers per model file: KLD/perplexity and task accuracy, joined to speed rows by the
file's sha256 (quality belongs to the file, wherever it was measured).

Levels are compared only on numbers measured the same way: of each task, the rows of one variant
(the same source, shots, limit and seed: the same questions asked the same way); of perplexity, the
rows of one corpus, window and baseline. The variant that covers the most files is used (ties: the
most questions, then the latest); rows of other variants stay in the report's full tables."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from edgeprof.results.details import task_outcomes
from edgeprof.results.read import Results, level_of, model_of

ACCURACY_KEYS = ("acc_norm", "acc", "exact_match", "f1")  # the first one a task row has is its score
TASK_VARIANT = ("source", "shots", "limit", "seed", "chat")  # equal: the same questions, asked the same way


@dataclass(frozen=True)
class Accuracy:
    task: str
    metric: str
    value: float
    stderr: float | None
    n: int | None
    model: str = ""
    level: str = ""
    # question id -> 0/1 on ``metric``; None where the row's per-example file was not found
    outcomes: dict[str, int] | None = field(default=None, compare=False, repr=False)


def file_key(row: dict) -> str:
    model = row["model"]
    return model.get("sha256") or f"{model_of(row)}/{level_of(row)}"


def kld_by_file(results: Results) -> dict[str, dict]:
    """sha256 -> the perplexity row's metrics (the latest row wins); the KLD baseline itself gets
    ``kld_mean`` 0 (its distance from itself)."""
    out = {}
    for row in perplexity_rows(results):
        metrics = dict(row["metrics"])
        if (row.get("baseline") or {}).get("is_self"):
            metrics["kld_mean"] = 0.0
        out[file_key(row)] = metrics
    return out


def accuracy_of(row: dict, outcomes: dict[str, dict] | None = None) -> Accuracy | None:
    metrics = row.get("metrics", {})
    for key in ACCURACY_KEYS:
        if metrics.get(key) is not None:
            per_question = {q: int(o[key]) for q, o in outcomes.items() if _score(o.get(key))} if outcomes else None
            return Accuracy(row["task"]["name"], key, metrics[key], metrics.get(f"{key}_stderr"), metrics.get("n"),
                            model_of(row), level_of(row), per_question or None)
    return None


def _score(value) -> bool:
    """Whether a per-question outcome is a 0/1 score (a hand-edited answers file may hold anything)."""
    return isinstance(value, (bool, int, float)) and value in (0, 1)


def accuracy_by_file(results: Results) -> dict[str, dict[str, Accuracy]]:
    """sha256 -> task name -> score, with the per-question outcomes the paired tests need."""
    out: dict[str, dict[str, Accuracy]] = {}
    for row in (r for rows in task_rows(results).values() for r in rows):
        acc = accuracy_of(row, task_outcomes(results.folders, row))
        if acc is not None:
            out.setdefault(file_key(row), {})[acc.task] = acc
    return out


def task_rows(results: Results) -> dict[str, list[dict]]:
    """Task name -> the rows of the variant its accuracy is compared on (see the module's docstring)."""
    variants: dict[str, dict[str, list[dict]]] = {}
    for row in results.of_kind("task"):
        task = {**row["task"], "chat": bool(row["task"].get("chat"))}  # rows from before --chat: plain
        variant = json.dumps([task.get(key) for key in TASK_VARIANT])
        variants.setdefault(row["task"]["name"], {}).setdefault(variant, []).append(row)
    return {name: _widest(list(by_variant.values()), lambda rows: max(r["metrics"]["n"] for r in rows))
            for name, by_variant in variants.items()}


def perplexity_rows(results: Results) -> list[dict]:
    """The perplexity rows of the corpus, window and baseline that KLD is compared on."""
    variants: dict[str, list[dict]] = {}
    for row in results.of_kind("perplexity"):
        variant = json.dumps([row["corpus"], row["settings"].get("ppl_ctx"), row["settings"].get("chunks"),
                              (row.get("baseline") or {}).get("sha256")])
        variants.setdefault(variant, []).append(row)
    with_kld = [rows for rows in variants.values() if any(r.get("baseline") for r in rows)]
    return _widest(with_kld or list(variants.values()), lambda rows: 0) if variants else []


def _widest(groups: list[list[dict]], then) -> list[dict]:
    """The group of rows covering the most files; ties: the larger ``then(rows)``, then the latest."""
    return max(reversed(groups), key=lambda rows: (len({file_key(r) for r in rows}), then(rows)))


def files(results: Results) -> dict[str, dict]:
    """sha256 -> the model description of every file any row mentions."""
    return {file_key(r): r["model"] for r in results.rows}


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats: lower x (quality loss) and higher y (speed).
    Ties in both are all kept. Returned sorted by x."""
    front = []
    for i, (x, y) in enumerate(points):
        dominated = any((x2 <= x and y2 >= y) and (x2 < x or y2 > y) for x2, y2 in points)
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: points[i])
