"""models.toml -> frozen dataclasses. Every error names the file, the line and the key."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeprof.errors import EdgeprofError, fail
from edgeprof.levels import OUTTYPE_CHOICES
from edgeprof.paths import safe_name
from edgeprof.tomlfile import check_keys, expect, load_toml, location, require


@dataclass(frozen=True)
class ModelSpec:
    name: str = field(metadata={"help": "a short name; output files are <name>-<LEVEL>.gguf"})
    source: str = field(metadata={"help": "hub repo id (owner/name), a local checkpoint folder, "
                                          "a .gguf file, or 'demo' for the embedded demo model"})
    levels: tuple[str, ...] = field(metadata={"help": "quantization levels (llama.cpp names)"})
    recipe: str | None = field(default=None, metadata={"help": "the recipe the levels came from"})
    revision: str | None = field(default=None, metadata={"help": "hub revision: branch, tag or commit"})
    outtype: str = field(default="auto", metadata={"help": "unquantized type: auto (the source's own "
                                                           "16-bit type), f16, bf16 or f32"})
    imatrix: str | None = field(default=None, metadata={
        "help": "importance-matrix corpus: a text corpus name (gsm8k_text), or a text file's absolute path "
                "(written relative to models.toml); None: levels are quantized without a matrix"})
    imatrix_ctx: int = field(default=512, metadata={"help": "tokens per importance-matrix chunk (--imatrix-ctx)"})
    imatrix_chunks: int | None = field(default=None, metadata={
        "help": "at most this many importance-matrix chunks (--imatrix-chunks); None: all"})
    fleet: str = field(default="copy", metadata={
        "help": "`edgeprof fleet`: copy (converted once here, the files copied to every board) or host "
                "(each board converts or downloads it itself)"})


@dataclass(frozen=True)
class ModelsFile:
    path: Path = field(metadata={"help": "the models.toml this came from"})
    models: tuple[ModelSpec, ...] = field(metadata={"help": "the models, in file order"})
    output_dir: Path = field(default=Path("results"), metadata={"help": "where outputs go"})
    suite: str = field(default="demo", metadata={"help": "the bench suite `edgeprof run` measures (bench/suites/)"})


MODEL_KEYS = {"name", "source", "revision", "quant", "outtype", "imatrix", "imatrix_ctx", "imatrix_chunks", "fleet"}
FLEET_MODES = ("copy", "host")
TOP_KEYS = {"models", "output_dir", "suite"}


def load_models_file(path: Path, imatrix_given: bool = False) -> ModelsFile:
    """``imatrix_given``: the command gives an importance matrix to models without their own
    (`convert --models FILE --imatrix CORPUS`), so their levels may need one."""
    if not path.is_file():
        raise fail("is_directory" if path.is_dir() else "not_found", path=path)
    data = load_toml(path)
    text = path.read_text(encoding="utf-8")
    check_keys(path, "top level", data, TOP_KEYS)
    entries = require(path, "top level", data, "models", list)
    if not entries:
        raise fail("toml_value", path=path, where="models", detail="lists no models")
    models = tuple(_model(path, text, i, entry, imatrix_given) for i, entry in enumerate(entries))
    names = [m.name for m in models]
    for name in names:
        if names.count(name) > 1:
            raise fail("toml_value", path=path, where="models", detail=f"name {name!r} is used twice")
    out = Path(expect(path, "top level", data, "output_dir", str)) if "output_dir" in data else Path("results")
    suite = expect(path, "top level", data, "suite", str) if "suite" in data else "demo"
    return ModelsFile(path, models, out if out.is_absolute() else path.parent / out, suite)


def _where(text: str, index: int, key: str | None = None) -> str:
    """'line N, models[i].key': the line of the key inside the i-th [[models]] table."""
    return location(text, "models", index, key, array=True)


def _model(path: Path, text: str, index: int, entry: Any, imatrix_given: bool) -> ModelSpec:
    where = _where(text, index)
    if not isinstance(entry, dict):
        raise fail("toml_value", path=path, where=where, detail="each [[models]] entry must be a table")
    for key in entry:
        if key not in MODEL_KEYS:
            check_keys(path, _where(text, index, key), {key: None}, MODEL_KEYS)
    for key in ("name", "source"):
        if key not in entry:
            raise fail("toml_missing", path=path, where=where, key=key)
    name = expect(path, _where(text, index, "name"), entry, "name", str)
    try:
        safe_name(name, "a model name")
    except EdgeprofError as exc:
        raise fail("toml_value", path=path, where=_where(text, index, "name"), detail=str(exc)) from None
    source = expect(path, _where(text, index, "source"), entry, "source", str)
    revision = expect(path, _where(text, index, "revision"), entry, "revision", str) if "revision" in entry else None
    outtype = expect(path, _where(text, index, "outtype"), entry, "outtype", str) if "outtype" in entry else "auto"
    if outtype not in OUTTYPE_CHOICES:
        raise fail("toml_value", path=path, where=_where(text, index, "outtype"),
                   detail=f"outtype must be one of {', '.join(OUTTYPE_CHOICES)}, got {outtype!r}")
    corpus, ctx, chunks = _imatrix(path, text, index, entry)
    with_imatrix = corpus is not None or imatrix_given
    levels, recipe = _levels(path, _where(text, index, "quant"), entry.get("quant", []), with_imatrix)
    fleet = expect(path, _where(text, index, "fleet"), entry, "fleet", str) if "fleet" in entry else "copy"
    if fleet not in FLEET_MODES:
        raise fail("fleet_model_mode", path=path, index=index, value=fleet)
    return ModelSpec(name, source, levels, recipe, revision, outtype, corpus, ctx, chunks, fleet)


def _levels(path: Path, where: str, quant: Any, with_imatrix: bool) -> tuple[tuple[str, ...], str | None]:
    from edgeprof.levels import NEEDS_IMATRIX, canonical_level
    from edgeprof.quantize.recipes import load_recipe

    try:
        if isinstance(quant, str):
            return load_recipe(quant).levels, quant
        if isinstance(quant, list) and all(isinstance(q, str) for q in quant):
            levels = tuple(dict.fromkeys(canonical_level(q, with_imatrix=True) for q in quant))
            # worded for this file: the CLI's message says --imatrix, here the fix is a key
            if missing := [lv for lv in levels if lv in NEEDS_IMATRIX and not with_imatrix]:
                raise fail("level_needs_imatrix_key", name=missing[0])
            return levels, None
    except EdgeprofError as exc:
        raise fail("toml_value", path=path, where=where, detail=str(exc)) from None
    raise fail("toml_type", path=path, where=where, key="quant", expected="a recipe name or a list of levels",
               got=type(quant).__name__)


def _imatrix(path: Path, text: str, index: int, entry: dict) -> tuple[str | None, int, int | None]:
    """(corpus, ctx, chunks) of the model's importance matrix; corpus None: none asked for. Checked
    here, with the line, so a typo fails before the first conversion rather than after it."""
    from edgeprof import limits

    if "imatrix" not in entry:
        for key in ("imatrix_ctx", "imatrix_chunks"):
            if key in entry:
                raise fail("toml_value", path=path, where=_where(text, index, key),
                           detail=f"{key} needs imatrix (the corpus the importance matrix is computed on)")
        return None, 512, None
    where = _where(text, index, "imatrix")
    corpus = _corpus(path, where, expect(path, where, entry, "imatrix", str))
    numbers = {}
    for key, allowed in (("imatrix_ctx", limits.CONTEXT), ("imatrix_chunks", limits.COUNT)):
        if key in entry:
            key_where = _where(text, index, key)
            value = expect(path, key_where, entry, key, int)
            try:
                numbers[key] = allowed.check(key, value)
            except EdgeprofError as exc:
                raise fail("toml_value", path=path, where=key_where, detail=str(exc)) from None
    return corpus, numbers.get("imatrix_ctx", 512), numbers.get("imatrix_chunks")


def _corpus(path: Path, where: str, corpus: str) -> str:
    """A text file relative to models.toml (made absolute: runs start from any folder), else a
    corpus name, which must be a task of kind text."""
    from edgeprof.bench.tasks.definition import load_task

    file = path.parent / corpus
    if file.is_file():
        return str(file.resolve())
    try:
        task = load_task(corpus)
    except EdgeprofError as exc:
        raise fail("toml_value", path=path, where=where,
                   detail=f"imatrix {corpus!r} is not a file beside models.toml, nor a text corpus: {exc}") from None
    if task.kind != "text":
        raise fail("toml_value", path=path, where=where, detail=f"imatrix {corpus!r} is a {task.kind} task, not a "
                   "text corpus; give a text corpus such as gsm8k_text or wikitext2, or a text file")
    return corpus
