"""The library side of `edgeprof plot` and `edgeprof report`."""

from __future__ import annotations

from pathlib import Path

import click

from edgeprof.plot.figures import Rendered


def _say(item: Rendered) -> None:
    where = f" [{item.device}]" if item.device else ""
    if item.path is not None:
        click.echo(f"  {item.path}{where}: {item.shows}", err=True)
    else:
        click.echo(f"  skipped {item.name}{where}: {item.skipped}", err=True)


def plot(folders: list[Path], out: Path, fmt: str) -> list[Rendered]:
    from edgeprof.plot.data import load_results
    from edgeprof.plot.figures import render_all

    results = load_results(folders)
    click.echo(f"{len(results.rows)} rows from {len(folders)} folder(s), devices: {', '.join(results.devices)}", err=True)
    return render_all(results, out, fmt, on_figure=_say)


def report(folders: list[Path], out: Path, fmt: str, budget) -> tuple[Path, Path]:
    from edgeprof.plot import report as build_report
    from edgeprof.plot.data import load_results
    from edgeprof.plot.figures import render_all

    results = load_results(folders)
    figures = render_all(results, out / "figures", fmt, on_figure=_say)
    return build_report.write(build_report.build(results, figures, budget), out)
