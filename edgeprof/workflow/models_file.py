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


@dataclass(frozen=True)
class ModelsFile:
    path: Path = field(metadata={"help": "the models.toml this came from"})
    models: tuple[ModelSpec, ...] = field(metadata={"help": "the models, in file order"})
    output_dir: Path = field(default=Path("results"), metadata={"help": "where outputs go"})
    suite: str = field(default="demo", metadata={"help": "the bench suite `edgeprof run` measures (bench/suites/)"})


MODEL_KEYS = {"name", "source", "revision", "quant", "outtype"}
TOP_KEYS = {"models", "output_dir", "suite"}


def load_models_file(path: Path) -> ModelsFile:
    if not path.is_file():
        raise fail("is_directory" if path.is_dir() else "not_found", path=path)
    data = load_toml(path)
    text = path.read_text(encoding="utf-8")
    check_keys(path, "top level", data, TOP_KEYS)
    entries = require(path, "top level", data, "models", list)
    if not entries:
        raise fail("toml_value", path=path, where="models", detail="lists no models")
    models = tuple(_model(path, text, i, entry) for i, entry in enumerate(entries))
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


def _model(path: Path, text: str, index: int, entry: Any) -> ModelSpec:
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
    levels, recipe = _levels(path, _where(text, index, "quant"), entry.get("quant", []))
    return ModelSpec(name, source, levels, recipe, revision, outtype)


def _levels(path: Path, where: str, quant: Any) -> tuple[tuple[str, ...], str | None]:
    from edgeprof.levels import canonical_level
    from edgeprof.quantize.recipes import load_recipe

    try:
        if isinstance(quant, str):
            return load_recipe(quant).levels, quant
        if isinstance(quant, list) and all(isinstance(q, str) for q in quant):
            return tuple(dict.fromkeys(canonical_level(q) for q in quant)), None
    except EdgeprofError as exc:
        raise fail("toml_value", path=path, where=where, detail=str(exc)) from None
    raise fail("toml_type", path=path, where=where, key="quant", expected="a recipe name or a list of levels",
               got=type(quant).__name__)
