"""Task accuracy as OpenCompass's summary table, so edgeprof's numbers go into OpenCompass tables.

The layout is what OpenCompass's DefaultSummarizer writes to ``summary/summary_<time>.csv``
(open-compass/opencompass, opencompass/summarizers/default.py): a header ``dataset, version,
metric, mode`` then one column per model, one line per dataset and metric, scores in percent with
two decimals, ``-`` where a model has no score, commas inside a cell written as spaces.

How edgeprof's rows fill it:
- dataset: the task's name; version: the first 6 hex digits of a hash of how the questions were
  asked (task, data source, shots), as OpenCompass's version is a prompt hash;
- metric: ``accuracy`` (edgeprof's acc), ``acc_norm``, ``exact_match``, ``precision``,
  ``recall``, ``f1``, each followed by its ``<metric>_stderr`` line where it has one;
- mode: ``ll`` for choice tasks (each choice's log-likelihood, OpenCompass's LLInferencer),
  ``gen`` for generated answers;
- model columns: the GGUF file, ``-chat`` appended for rows prompted through the chat template
  (OpenCompass tells chat models from base models by the model, not the dataset), and
  ``@device`` where the same file was scored on several devices.
"""

from __future__ import annotations

import hashlib
import json

from edgeprof.results.read import device_of

HEADER = ("dataset", "version", "metric", "mode")
# (row metric, OpenCompass's name, factor to percent): chrF and BLEU are percent already (sacrebleu)
METRICS = (("acc", "accuracy", 100), ("acc_norm", "acc_norm", 100), ("exact_match", "exact_match", 100),
           ("precision", "precision", 100), ("recall", "recall", 100), ("f1", "f1", 100),
           ("pass@1", "humaneval_pass@1", 100), ("chrf", "chrf", 1), ("bleu", "bleu", 1))
MODES = {"choice": "ll", "generate": "gen", "code": "gen", "translate": "gen"}


def version_of(task: dict) -> str:
    asked = [task.get("name"), task.get("source"), task.get("shots")]  # chat prompting: the model column
    return hashlib.sha256(json.dumps(asked, sort_keys=True, default=str).encode()).hexdigest()[:6]


def model_abbr(row: dict, several_devices: bool) -> str:
    name = row["model"]["file"].removesuffix(".gguf") + ("-chat" if row["task"].get("chat") else "")
    return f"{name}@{device_of(row)}" if several_devices else name


def summary_table(task_rows: list[dict]) -> list[list[str]]:
    """The table, header first: one line per (dataset, version, metric), one column per model."""
    devices = {}
    for row in task_rows:
        devices.setdefault(row["model"]["file"], set()).add(device_of(row))
    several = any(len(d) > 1 for d in devices.values())
    models = list(dict.fromkeys(model_abbr(r, several) for r in task_rows))
    cells: dict[tuple[str, str, str, str], dict[str, str]] = {}
    for row in task_rows:
        task, metrics = row["task"], row["metrics"]
        dataset = (task["name"], version_of(task), MODES.get(task.get("kind"), "unknown"))
        for key, name, percent in METRICS:
            for metric, value in ((name, metrics.get(key)), (f"{name}_stderr", metrics.get(f"{key}_stderr"))):
                if isinstance(value, (int, float)):
                    line = cells.setdefault((dataset[0], dataset[1], metric, dataset[2]), {})
                    line[model_abbr(row, several)] = f"{percent * value:.2f}"
    table = [[*HEADER, *models]]
    for (dataset, version, metric, mode), scores in cells.items():
        table.append([dataset, version, metric, mode, *(scores.get(m, "-") for m in models)])
    return table


def to_csv(table: list[list[str]]) -> str:
    """OpenCompass's CSV: plain comma-joined cells, a comma inside a cell written as a space."""
    return "".join(",".join(cell.replace(",", " ") for cell in line) + "\n" for line in table)
