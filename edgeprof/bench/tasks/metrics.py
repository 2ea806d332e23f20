"""Task metrics from per-example outcomes: accuracy (micro and macro over groups), acc_norm,
classification precision/recall/F1 with the confusion counts, and exact match of a number."""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Callable

from edgeprof.bench.tasks import answers

_NUMBER = re.compile(r"-?[\d,]*\.?\d+")


def _clean_number(text: str) -> str:
    text = text.replace(",", "").rstrip(".")
    if re.fullmatch(r"-?\d+\.0+", text):
        text = text.split(".")[0]  # '18.00' and '18' are the same answer
    return text


def last_number(output: str) -> str | None:
    found = _NUMBER.findall(output)
    return _clean_number(found[-1]) if found else None


def after_hashes(output: str) -> str | None:
    """GSM8K's strict form: the number after '####'."""
    match = re.search(r"####\s*(-?[\d,]*\.?\d+)", output)
    return _clean_number(match.group(1)) if match else None


EXTRACTORS: dict[str, Callable[..., str | None]] = {"last_number": last_number, "after_hashes": after_hashes,
                                                    "regex": answers.regex, "first_letter": answers.first_letter,
                                                    "exact": answers.exact}
NEEDS_PATTERN = ("regex",)  # extractors that take the task file's generate.pattern


def extract(name: str, output: str, pattern: str | None = None) -> str | None:
    """The answer extractor ``name`` applied to a generated ``output``."""
    return EXTRACTORS[name](output, pattern) if name in NEEDS_PATTERN else EXTRACTORS[name](output)


def stderr(p: float, n: int) -> float | None:
    """Standard error of a proportion (lm-eval reports the sample version)."""
    return math.sqrt(p * (1 - p) / (n - 1)) if n > 1 else None


def mean_stderr(values: list[float]) -> float | None:
    """Standard error of a mean of values in [0, 1] (TruthfulQA MC2): the sample standard deviation
    over the square root of n, as lm-eval; for 0/1 values it equals ``stderr``."""
    n = len(values)
    if n < 2:
        return None
    mean = sum(values) / n
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1) / n)


def summarize(outcomes: list[dict], metric_keys: tuple[str, ...]) -> dict:
    """``outcomes``: one dict per example with 'group' and a 0/1 value per metric key.
    Micro = over all examples; macro = mean of the per-group means (MMLU reports both)."""
    n = len(outcomes)
    groups: dict[str, list[dict]] = defaultdict(list)
    for outcome in outcomes:
        groups[outcome["group"]].append(outcome)
    result: dict = {"n": n}
    for key in metric_keys:
        mean = sum(o[key] for o in outcomes) / n if n else 0.0
        result[key] = mean
        values = [o[key] for o in outcomes]
        binary = all(v in (0, 1) for v in values)
        result[f"{key}_stderr"] = stderr(mean, n) if binary else mean_stderr(values)
        if len(groups) > 1:
            result[f"{key}_macro"] = sum(sum(o[key] for o in g) / len(g) for g in groups.values()) / len(groups)
    if len(groups) > 1:
        result["groups"] = {name: {"n": len(g), **{k: sum(o[k] for o in g) / len(g) for k in metric_keys}}
                            for name, g in sorted(groups.items())}
    return result


def classification(golds: list[int], preds: list[int], labels: tuple[str, ...], positive: int) -> dict:
    """Precision, recall and F1 of the positive class, and confusion counts (gold row x predicted)."""
    confusion = [[0] * len(labels) for _ in labels]
    for gold, pred in zip(golds, preds):
        confusion[gold][pred] += 1
    tp = confusion[positive][positive]
    fp = sum(confusion[g][positive] for g in range(len(labels)) if g != positive)
    fn = sum(confusion[positive][p] for p in range(len(labels)) if p != positive)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "positive": labels[positive],
            "labels": list(labels), "confusion": confusion}
