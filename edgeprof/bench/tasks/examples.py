"""Records -> examples: the fields a prompt needs, the choices and the gold answer.

The mapping is data (``FieldMap`` from the task file): dotted paths into the record, and how the
answer is written (a letter, an index, one of the choice labels, the answer text, or GSM8K's
'#### 42'). Records whose answer cannot be read (header rows, unlabelled test rows) are counted and
left out, never guessed.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any

from edgeprof.bench.tasks.definition import FieldMap, TaskDef

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_SPLIT_SUFFIX = re.compile(r"_(test|dev|val|validation|train)$")  # MMLU's astronomy_test.csv -> astronomy


@dataclass(frozen=True)
class Example:
    id: str
    group: str
    text: dict[str, str]  # template fields, e.g. question
    choices: tuple[str, ...]  # the candidate answers (choice tasks)
    answer: int | str  # index of the gold choice (choice tasks) or the gold answer (generate tasks)
    golds: tuple[int, ...] = ()  # every true choice, where several are (answer_is = 'flags': TruthfulQA MC2)


@dataclass
class Split:
    examples: list[Example]
    skipped: int  # records left out because their answer could not be read


def get(record: Any, path: str) -> Any:
    """``record['a']['b']`` for path 'a.b'; a number indexes a list and '*' maps over one
    ('question.choices.*.text': ARC's list of {text, label}); None where absent."""
    value = record
    parts = path.split(".")
    for depth, part in enumerate(parts):
        if part == "*" and isinstance(value, list):
            rest = ".".join(parts[depth + 1:])
            return [get(item, rest) if rest else item for item in value]
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def to_examples(task: TaskDef, fields: FieldMap, records: list[tuple[dict, str]]) -> Split:
    examples, skipped = [], 0
    fixed = task.prompt.choices if task.prompt else None
    for number, (record, stem) in enumerate(records):
        if not _wanted(fields, record):
            continue
        example = _example(task, fields, record, stem, number, fixed)
        if example is None:
            skipped += 1
        else:
            examples.append(example)
    return Split(examples, skipped)


def _wanted(fields: FieldMap, record: dict) -> bool:
    return all(get(record, path) in values for path, values in fields.skip_unless.items())


def _example(task: TaskDef, fields: FieldMap, record: dict, stem: str, number: int,
             fixed: tuple[str, ...] | None) -> Example | None:
    text = {name: _text(get(record, path)) for name, path in fields.text.items()}
    choices = fixed if fixed else _choices(fields, record)
    if task.kind == "choice" and len(choices) < 2:
        return None
    if task.prompt and task.prompt.blank and not any(task.prompt.blank in v for v in text.values()):
        return None  # a cloze record without its blank
    answer = "" if task.kind == "text" else _answer(fields, record, choices, task.kind)
    if answer is None:
        return None
    group = (_SPLIT_SUFFIX.sub("", stem) if fields.group in ("@file", "@config")
             else _text(get(record, fields.group)) if fields.group else "all")
    ident = _text(get(record, fields.id)) if fields.id else f"{stem}-{number}"
    return Example(id=ident, group=group.replace("_", " ").strip() or "all", text=text, choices=choices, answer=answer,
                   golds=_golds(fields, record) if fields.answer_is == "flags" else ())


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _choices(fields: FieldMap, record: dict) -> tuple[str, ...]:
    if fields.choices is None:
        return ()
    if isinstance(fields.choices, str):
        value = get(record, fields.choices)
        return tuple(_text(v) for v in value) if isinstance(value, list) else ()
    return tuple(_text(get(record, path)) for path in fields.choices)


def _answer(fields: FieldMap, record: dict, choices: tuple[str, ...], kind: str) -> int | str | None:
    raw = get(record, fields.answer) if fields.answer else None
    if raw is None:
        return None
    form = fields.answer_is
    if kind == "translate":  # the reference translation, verbatim (BLEU counts its commas)
        return str(raw) if str(raw).strip() else None
    if kind == "generate":
        return _gold_text(raw, form)
    if kind == "code":  # the function the tests call (HumanEval's entry_point)
        return str(raw).strip() or None
    if form == "letter":
        letter = str(raw).strip().upper()
        index = LETTERS.find(letter) if len(letter) == 1 else -1
    elif form == "index":
        index = int(raw) if _is_int(raw) else -1
    elif form == "ordinal":  # Winogrande's '1' / '2': the first choice is 1
        index = int(raw) - 1 if _is_int(raw) else -1
    elif form in ("one_hot", "flags"):  # TruthfulQA's labels: 1 for a true answer, 0 for the others
        flags = list(raw) if isinstance(raw, list) else []
        index = flags.index(1) if 1 in flags and len(flags) == len(choices) else -1
    elif form == "label":
        labels = [str(x) for x in (get(record, fields.labels) or [])]
        index = labels.index(str(raw)) if str(raw) in labels else -1
    else:  # text: the gold answer is written out, find it among the choices
        index = choices.index(str(raw)) if str(raw) in choices else -1
    return index if 0 <= index < len(choices) else None


def _golds(fields: FieldMap, record: dict) -> tuple[int, ...]:
    flags = get(record, fields.answer)
    return tuple(i for i, flag in enumerate(flags) if flag == 1) if isinstance(flags, list) else ()


def _gold_text(raw: Any, form: str) -> str | None:
    text = str(raw)
    if form == "verbatim":  # compared as written (after the task's normalise): commas are kept
        return text.strip() or None
    if form == "after_hashes":  # GSM8K: the solution ends with '#### 42'
        if "####" not in text:
            return None
        text = text.rsplit("####", 1)[1]
    return text.strip().replace(",", "") or None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) or (isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()) is not None)


def sample(examples: list[Example], limit: int | None, seed: int) -> list[Example]:
    """A deterministic sample: the same limit and seed pick the same examples on every device,
    kept in their original order (so subject groups stay together for prefix reuse)."""
    if limit is None or limit >= len(examples):
        return list(examples)
    chosen = sorted(random.Random(seed).sample(range(len(examples)), limit))
    return [examples[i] for i in chosen]
