"""`edgeprof run`: convert, bench, evaluate, plot and report every model of a models.toml."""

from __future__ import annotations

from pathlib import Path

import click

from edgeprof.cli.options import IMAGE_FORMAT_OPTION, NO_PROGRESS_OPTION, VERBOSE_OPTION, DeviceName, say


@click.command("run")
@click.argument("models_file", required=False, default="models.toml", type=click.Path(path_type=Path))
@click.option("--device-name", type=DeviceName(), metavar="NAME", help="What results call this device; its results "
              "go to OUTPUT_DIR/NAME [default: its model name or hostname].")
@click.option("--suite", help="Bench suite to run instead of the one models.toml names (demo, standard, a path).")
@IMAGE_FORMAT_OPTION
@NO_PROGRESS_OPTION
@VERBOSE_OPTION
def run(models_file, device_name, suite, image_format, no_progress, verbose) -> None:
    """Convert, bench, evaluate, plot and report every model in MODELS_FILE, per its bench suite.

    Everything already done is reused (converted files, measured cells, scored answers), so
    rerunning after a crash or Ctrl-C resumes.

    \b
    edgeprof run                                   # models.toml: the embedded demo model
    edgeprof run my-models.toml --device-name pi5 --suite standard
    """
    from edgeprof import llamacpp
    from edgeprof.workflow.run import RunOptions, run_models_file

    llamacpp.init(verbose)
    try:
        outcome = run_models_file(RunOptions(Path(models_file), device_name, suite, image_format, not no_progress), say)
    except KeyboardInterrupt as exc:  # Ctrl-C, SIGTERM, SIGHUP
        from edgeprof.cli.interrupts import exit_code

        say("\nInterrupted: everything finished so far is kept; rerun the same command to resume.")
        raise SystemExit(exit_code(exc)) from None
    click.echo(f"finished in {outcome.seconds / 60:.1f} min\n"
               f"results: {outcome.results}\nfigures: {outcome.figures}\n"
               f"report:  {outcome.report_html} (and {outcome.report_md.name})")
