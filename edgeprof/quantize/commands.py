"""The library side of `edgeprof convert`: option handling and what the command prints."""

from __future__ import annotations

import os
from pathlib import Path

import click

from edgeprof.quantize.pipeline import ConvertedFile, ConvertOptions, convert


def _threads(threads: int | None) -> int:
    return threads or len(os.sched_getaffinity(0))


def _say(message: str) -> None:
    click.echo(message, err=True)


def convert_one(source: str, quant: str | None, recipe: str | None, outtype: str, out_dir: Path,
                name: str | None, revision: str | None, threads: int | None, progress: bool,
                allow_pickle: bool = False) -> list[ConvertedFile]:
    from edgeprof.quantize.levels import parse_list
    from edgeprof.quantize.recipes import load_recipe

    levels = tuple(parse_list(quant)) if quant else load_recipe(recipe).levels if recipe else ()
    options = ConvertOptions(levels=levels, outtype=outtype, out_dir=out_dir, threads=_threads(threads),
                             name=name, revision=revision, progress=progress, allow_pickle=allow_pickle)
    return convert(source, options, _say)


def convert_models_file(path: Path, out_dir: Path, threads: int | None, progress: bool) -> list[ConvertedFile]:
    from edgeprof.config import load_models_file

    models = load_models_file(path)
    rows: list[ConvertedFile] = []
    for spec in models.models:
        _say(f"== {spec.name} ({spec.source})")
        options = ConvertOptions(levels=spec.levels, outtype=spec.outtype, out_dir=out_dir,
                                 threads=_threads(threads), name=spec.name, revision=spec.revision,
                                 progress=progress)
        rows += convert(spec.source, options, _say)
    return rows


def summary_table(rows: list[ConvertedFile]) -> str:
    header = ("level", "file", "size", "bits/weight", "time", "")
    lines = [header]
    for row in rows:
        lines.append((row.level, str(row.path), f"{row.size_bytes / 1e6:.1f} MB", f"{row.bits_per_weight:.2f}",
                      "reused" if row.reused else f"{row.seconds:.1f} s", ""))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in lines)


def describe_levels() -> str:
    from edgeprof.quantize.levels import NEEDS_IMATRIX, usable_levels
    from edgeprof.quantize.recipes import load_recipe, recipe_names

    lines = ["Levels (llama.cpp names): " + ", ".join(usable_levels()),
             "Need an importance matrix (not yet supported): " + ", ".join(sorted(NEEDS_IMATRIX)), "", "Recipes:"]
    for name in recipe_names():
        recipe = load_recipe(name)
        lines.append(f"  {name:8} {', '.join(recipe.levels)}" + (f"  - {recipe.description}" if recipe.description else ""))
    return "\n".join(lines)
