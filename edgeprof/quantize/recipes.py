"""Quantization recipes: named sets of levels, one TOML file each under ``quantize/``."""

from __future__ import annotations

from dataclasses import dataclass, field

from edgeprof.errors import EdgeprofError, did_you_mean, fail
from edgeprof.paths import data_dir
from edgeprof.tomlfile import check_keys, load_toml, require


@dataclass(frozen=True)
class Recipe:
    name: str = field(metadata={"help": "the recipe's name, its file name without .toml"})
    levels: tuple[str, ...] = field(metadata={"help": "quantization levels, llama.cpp names"})
    description: str = field(default="", metadata={"help": "what the recipe is for"})


def recipe_names() -> list[str]:
    return sorted(p.stem for p in data_dir("quantize").glob("*.toml"))


def load_recipe(name: str) -> Recipe:
    from edgeprof.levels import canonical_level

    path = data_dir("quantize") / f"{name}.toml"
    if not path.is_file():
        names = recipe_names()
        raise fail("unknown_recipe", name=name, hint=did_you_mean(name, names),
                   choices=", ".join(names))
    data = load_toml(path)
    check_keys(path, "top level", data, {"description", "levels"})
    levels = require(path, "top level", data, "levels", list)
    try:
        resolved = tuple(canonical_level(str(level)) for level in levels)
    except EdgeprofError as exc:
        raise fail("toml_value", path=path, where="levels", detail=str(exc)) from None
    return Recipe(name=name, levels=resolved, description=str(data.get("description", "")))
