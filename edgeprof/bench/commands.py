"""The library side of `edgeprof bench`: parse sweep lists, run, print."""

from __future__ import annotations

import json
from pathlib import Path

import click

from edgeprof.bench.engine import ALL_LAYERS, CACHE_TYPES
from edgeprof.errors import fail


def int_list(option: str, text: str, allow_all: bool = False) -> tuple[int, ...]:
    values = []
    for part in text.split(","):
        part = part.strip().lower()
        if allow_all and part in ("all", "max", "-1"):
            values.append(ALL_LAYERS)
            continue
        try:
            value = int(part)
        except ValueError:
            raise fail("bad_sweep", option=option, detail=f"{part!r} is not a whole number") from None
        if value < 0:
            raise fail("bad_sweep", option=option, detail=f"{value} is negative")
        values.append(value)
    return tuple(dict.fromkeys(values))


def flash_list(text: str) -> tuple[bool | None, ...]:
    choices = {"on": True, "1": True, "off": False, "0": False, "auto": None}
    try:
        return tuple(dict.fromkeys(choices[p.strip().lower()] for p in text.split(",")))
    except KeyError as exc:
        raise fail("bad_sweep", option="--flash-attn", detail=f"{exc.args[0]!r}: use on, off or auto") from None


def cache_list(text: str) -> tuple[str, ...]:
    values = tuple(dict.fromkeys(p.strip().lower() for p in text.split(",")))
    for value in values:
        if value not in CACHE_TYPES:
            raise fail("bad_sweep", option="--cache-type", detail=f"{value!r}: use one of {', '.join(CACHE_TYPES)}")
    return values


def sampler_list(text: str) -> tuple[str, ...] | None:
    from edgeprof.bench.resources.base import SAMPLERS

    if text == "all":
        return None
    if text == "none":
        return ()
    names = tuple(dict.fromkeys(p.strip() for p in text.split(",")))
    for name in names:
        if name not in SAMPLERS:
            raise fail("bad_sweep", option="--samplers", detail=f"{name!r}: use all, none or {', '.join(SAMPLERS)}")
    return names


def check_models(paths: tuple[Path, ...]) -> tuple[Path, ...]:
    from edgeprof.gguf_check import check_loadable

    for path in paths:
        if not path.exists():
            raise fail("not_found", path=path)
        check_loadable(path)  # a broken file is refused here, before anything runs or is written
    return paths


def synthetic_models(source: str, quant: str, revision: str | None) -> tuple[Path, ...]:
    """Build (or reuse from the cache) the synthetic file of ``source`` at each level."""
    from edgeprof.quantize import synthetic
    from edgeprof.quantize.levels import parse_list

    shape = synthetic.resolve(source, revision)
    return tuple(synthetic.build(shape, parse_list(quant), say=lambda line: click.echo(line, err=True)))


def task_folders(pairs: tuple[str, ...]) -> dict[str, Path]:
    """--task-data NAME=PATH, repeatable."""
    folders = {}
    for pair in pairs:
        name, sep, path = pair.partition("=")
        if not sep or not name or not path:
            raise fail("bad_sweep", option="--task-data", detail=f"{pair!r}: write TASK=PATH")
        folders[name.strip()] = Path(path)
    return folders


def name_list(text: str | None) -> tuple[str, ...]:
    return tuple(dict.fromkeys(p.strip() for p in text.split(",") if p.strip())) if text else ()


def run(spec, results: Path, fmt: str, export_llama_bench: Path | None, progress: bool, quality=None,
        speed: bool = True) -> None:
    from edgeprof.bench.store import ResultStore

    store = ResultStore(results)
    start = store.size()
    tally = Tally()
    try:
        if speed:
            run_speed(spec, store, tally, progress)
        if quality is not None:
            from edgeprof.bench.quality.run import run_quality

            run_quality(quality, spec.models, store, tally.add, progress)
    except KeyboardInterrupt:
        click.echo(f"\nInterrupted: {tally.rows} rows were saved to {store.path} (task answers so far in "
                   f"{store.folder / 'tasks'}); rerun the same command to resume.", err=True)
        raise SystemExit(130) from None
    _print(list(store.rows(since=start)) if tally.rows else list(store.rows()), store, fmt, export_llama_bench, speed)


class Tally:
    """What a run needs to remember of its rows: counts and the distinct errors. The rows themselves
    are on disk (read back from where this run started for printing), so a sweep of thousands of
    cells holds no per-cell memory."""

    def __init__(self):
        self.rows = self.failed = 0
        self.errors: dict[str, None] = {}

    def add(self, row: dict) -> None:
        self.rows += 1
        if row.get("status") == "failed":
            self.failed += 1
            self.errors.setdefault(row["error"])


def run_speed(spec, store, tally: Tally, progress: bool, strict: bool = True) -> None:
    """Run the sweep; failed cells are recorded and named. ``strict``: an error when nothing at all
    could be measured (the bench command), not for one scenario of `edgeprof run`."""
    from tqdm import tqdm

    from edgeprof.bench.runner import run_sweep
    from edgeprof.bench.sweep import plan

    skipped = []
    with tqdm(total=len(plan(spec)), desc="bench", unit="cell", disable=not progress or None) as bar:
        def on_row(row: dict) -> None:
            tally.add(row)
            bar.update(1)

        def on_skip(cell) -> None:
            skipped.append(cell)
            bar.update(1)

        run_sweep(spec, store, on_row, on_skip)
    for error in tally.errors:
        click.echo(f"failed: {error}", err=True)
    if strict and tally.failed and tally.failed == tally.rows and not skipped:
        raise fail("nothing_measured", n=tally.failed)
    if skipped:
        click.echo(f"skipped {len(skipped)} cells already in {store.path} (use --rerun to measure them again)", err=True)


def _print(shown: list[dict], store, fmt: str, export_llama_bench: Path | None, speed: bool) -> None:
    from edgeprof.bench import export

    speed_rows = export.of_kind(shown, "speed")
    printers = {"table": export.table, "json": export.to_json, "csv": export.to_csv, "md": export.to_markdown}
    if fmt == "json":
        click.echo(export.to_json(shown))
    else:
        if speed and speed_rows:
            click.echo(printers[fmt](speed_rows))
        for kind, printer in (("task", export.task_table), ("perplexity", export.ppl_table)):
            if export.of_kind(shown, kind):
                click.echo("\n" + printer([r for r in export.of_kind(shown, kind) if r.get("status") == "ok"]))
    if export_llama_bench:
        from edgeprof.atomic import atomic_write_text

        atomic_write_text(export_llama_bench, json.dumps(export.to_llama_bench(speed_rows), indent=1))
        click.echo(f"llama-bench JSON written to {export_llama_bench}", err=True)
    click.echo(f"results: {store.path}", err=True)
