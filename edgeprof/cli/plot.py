"""`edgeprof plot` and `edgeprof report`: figures and the report from recorded results (never runs a model)."""

from __future__ import annotations

from pathlib import Path

import click

from edgeprof.cli.options import IMAGE_FORMAT_OPTION, RESULTS_OPTION, CheckedPath, say


@click.command()
@RESULTS_OPTION
@click.option("--out", type=CheckedPath("dir"), default=Path("figures"), show_default=True,
              help="Folder for the figures.")
@IMAGE_FORMAT_OPTION
def plot(folders, out, image_format) -> None:
    """Draw the tradeoff curves from recorded results (never runs a model).

    \b
    edgeprof plot                                   # results/ -> figures/
    edgeprof plot --results pi5/ --results orin/ --out compare/ --image-format svg
    """
    from edgeprof.plot.figures import render_all
    from edgeprof.results.read import load_results

    results = load_results(list(folders) or [Path("results")])
    say(f"{len(results.rows)} rows from {len(results.folders)} folder(s), devices: {', '.join(results.devices)}")
    rendered = render_all(results, out, image_format, on_figure=_say_figure)
    click.echo(f"{sum(1 for r in rendered if r.path)} figures in {out}")


@click.command()
@RESULTS_OPTION
@click.option("--out", type=CheckedPath("dir"), default=Path("report"), show_default=True,
              help="Folder for report.md, report.html and their figures.")
@click.option("--max-kld", type=click.FloatRange(min=0), help="Quality budget: mean KLD vs the unquantized file.")
@click.option("--min-acc", type=click.FloatRange(0, 1), help="Quality budget: accuracy on --task.")
@click.option("--task", help="The task --min-acc applies to [default: the first one recorded].")
@IMAGE_FORMAT_OPTION
def report(folders, out, max_kld, min_acc, task, image_format) -> None:
    """Write a Markdown report and a self-contained HTML page: leaderboard, advice, figures, tables.

    \b
    edgeprof report --max-kld 0.05
    edgeprof report --results pi5/ --results orin/ --min-acc 0.3 --task hellaswag --out report/
    """
    from edgeprof.plot.leaderboard import Budget
    from edgeprof.plot.report import write_report
    from edgeprof.results.read import load_results

    results = load_results(list(folders) or [Path("results")])
    md, page = write_report(results, out, image_format, Budget(max_kld, min_acc, task), on_figure=_say_figure)
    click.echo(f"report: {page} (and {md.name})")


def _say_figure(item) -> None:
    where = f" [{item.device}]" if item.device else ""
    if item.path is not None:
        say(f"  {item.path}{where}: {item.shows}")
    else:
        say(f"  skipped {item.name}{where}: {item.skipped}")
