"""A task's data: pick the source, read the evaluated split and the few-shot split."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgeprof.bench.tasks.definition import SourceDef, TaskDef
from edgeprof.bench.tasks.examples import Split, to_examples
from edgeprof.bench.tasks.records import Located, locate, read_split
from edgeprof.errors import EdgeprofError, fail
from edgeprof.paths import data_dir


@dataclass
class TaskData:
    task: TaskDef
    source: SourceDef
    located: Located
    test: Split
    dev: Split | None  # None: shots come from the evaluated split itself (never the question asked)


def choose_source(task: TaskDef, source: str | None, folder: Path | None) -> tuple[SourceDef, Located]:
    """The named source; else, with a folder, the task's folder-format source; else the first
    offline source that is installed. The hub is used only when asked for by name."""
    if source:
        chosen = task.source(source)
        return chosen, locate(task.name, chosen, folder)
    if folder is not None:
        chosen = next((c for c in task.sources if c.kind == "folder"), task.sources[0])
        return chosen, locate(task.name, chosen, folder)
    for candidate in task.sources:
        if candidate.kind in ("package", "shipped"):
            try:
                return candidate, locate(task.name, candidate)
            except EdgeprofError:
                continue
    names = ", ".join(s.name if s.kind == "folder" else f"{s.name} ({s.location})" for s in task.sources)
    raise fail("task_no_offline_data", task=task.name, sources=names)


def load(task: TaskDef, source: str | None = None, folder: Path | None = None) -> TaskData:
    chosen, located = choose_source(task, source, folder)
    test = to_examples(task, chosen.fields, read_split(located, chosen, chosen.test))
    if not test.examples:
        raise fail("task_empty", task=task.name, root=located.root, pattern=chosen.test)
    return TaskData(task, chosen, located, test, _dev_split(task, chosen, located))


def _dev_split(task: TaskDef, source: SourceDef, located: Located) -> Split | None:
    """The few-shot split, when the source has one and its files are there (a folder may hold the
    evaluated split only: shots then come from it, never the question asked)."""
    if not source.dev:
        return None
    if source.dev_shipped:  # the source has no shots of its own: edgeprof ships them (BBH's prompts)
        located = Located(data_dir("bench") / source.dev_shipped, f"shipped bench/{source.dev_shipped}")
    dev = to_examples(task, source.fields, read_split(located, source, source.dev, required=False))
    return dev if dev.examples else None
