"""`edgeprof plot` and `edgeprof report`: figures and the report from recorded results (never runs a model)."""

from __future__ import annotations

from pathlib import Path

import click

from edgeprof import limits
from edgeprof.cli.options import IMAGE_FORMAT_OPTION, RESULTS_OPTION, CheckedPath, Number, say


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
    from edgeprof.locks import hold
    from edgeprof.paths import check_writable
    from edgeprof.plot.figures import render_all
    from edgeprof.results.read import load_results

    check_writable(out)
    results = load_results(list(folders) or [Path("results")])
    _say_skipped(results)
    say(f"{len(results.rows)} rows from {len(results.folders)} folder(s), devices: {', '.join(results.devices)}")
    with hold(out, "edgeprof plot", "--out", say):  # one plot or report per output folder
        rendered = render_all(results, out, image_format, on_figure=_say_figure)
    click.echo(f"{sum(1 for r in rendered if r.path)} figures in {out}")


@click.command()
@RESULTS_OPTION
@click.option("--out", type=CheckedPath("dir"), default=Path("report"), show_default=True,
              help="Folder for report.md, report.html and their figures.")
@click.option("--max-kld", type=Number(limits.KLD), help="Quality budget: mean KLD vs the unquantized file.")
@click.option("--min-acc", type=Number(limits.ACCURACY), help="Quality budget: accuracy on --task (0 to 1).")
@click.option("--task", help="The task --min-acc (and the Ianvs leaderboard) applies to [default: the first one "
              "recorded].")
@click.option("--format", "formats", multiple=True, type=click.Choice(["report", "opencompass", "ianvs"]),
              default=("report",), show_default=True,
              help="What --out gets, repeatable: report (report.md, report.html), opencompass "
              "(opencompass_summary.csv, OpenCompass's summary table), ianvs (ianvs_rank.csv, an Ianvs leaderboard).")
@click.option("--lm-eval", "lm_eval", multiple=True, type=CheckedPath("file"), metavar="FILE",
              help="lm-evaluation-harness results.json, repeatable: its scores beside edgeprof's, in the report and "
              "printed.")
@click.option("--rank-throttled", is_flag=True,
              help="Rank cells that throttled while measured like any other; they stay marked.")
@IMAGE_FORMAT_OPTION
def report(folders, out, max_kld, min_acc, task, formats, lm_eval, rank_throttled, image_format) -> None:
    """Write a Markdown report and a self-contained HTML page: leaderboard, advice, figures, tables.

    \b
    edgeprof report --max-kld 0.05
    edgeprof report --results pi5/ --results orin/ --min-acc 0.3 --task hellaswag --out report/
    edgeprof report --format opencompass --format ianvs --task mmlu --out tables/
    edgeprof report --lm-eval lm-eval-out/results.json
    edgeprof report --results orin/ --rank-throttled          # a board that always throttles: rank it anyway
    """
    from edgeprof.locks import hold
    from edgeprof.paths import check_writable
    from edgeprof.plot.leaderboard import Budget
    from edgeprof.plot.report import check_task, write_report
    from edgeprof.results.read import load_results

    for folder in (out, out / "figures"):
        check_writable(folder)
    results = load_results(list(folders) or [Path("results")])
    budget = Budget(max_kld, min_acc, task, rank_throttled)
    check_task(results, budget)  # before the output folder is locked (made)
    scores = _lm_eval_scores(lm_eval, results)
    _say_skipped(results)
    with hold(out, "edgeprof report", "--out", say):
        if "report" in formats:
            md, page = write_report(results, out, image_format, budget, on_figure=_say_figure, lm_eval=scores)
            click.echo(f"report: {page} (and {md.name})")
        for fmt in dict.fromkeys(f for f in formats if f != "report"):
            from edgeprof.results.interop import write_export

            click.echo(f"{fmt}: {write_export(results, out, fmt, task)}")


def _lm_eval_scores(files, results) -> list:
    """The scores of every --lm-eval file (each checked before anything is written), their table printed."""
    from edgeprof.results.lm_eval import COLUMNS, comparison, read_lm_eval
    from edgeprof.text_table import aligned

    scores = [score for path in files for score in read_lm_eval(path)]
    if scores:
        click.echo(aligned([list(COLUMNS), *map(list, comparison(scores, results.of_kind("task")))]))
    return scores


def _say_skipped(results) -> None:
    """The one note on the lines that were not valid rows (file:line and why), when there were any."""
    if note := results.skipped.note():
        say(note)


def _say_figure(item) -> None:
    where = f" [{item.device}]" if item.device else ""
    if item.path is not None:
        say(f"  {item.path}{where}: {item.shows}")
    else:
        say(f"  skipped {item.name}{where}: {item.skipped}")
