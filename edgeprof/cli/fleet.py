"""`edgeprof fleet`: a suite on every board of an Ansible inventory, results merged into one report."""

from __future__ import annotations

from pathlib import Path

import click

from edgeprof.cli.options import IMAGE_FORMAT_OPTION, NO_PROGRESS_OPTION, say


@click.command("fleet")
@click.argument("inventory", type=click.Path(path_type=Path))
@click.argument("models_file", required=False, default="models.toml", type=click.Path(path_type=Path))
@click.option("--suite", help="Bench suite to run instead of the one models.toml names (demo, standard, a path).")
@click.option("--limit", "-l", metavar="PATTERN", help="Only these inventory groups or hosts (as ansible --limit).")
@click.option("--out", type=click.Path(path_type=Path), default=Path("fleet"), show_default=True,
              help="Folder for each device's results, the report, per-host logs and what is copied to boards.")
@click.option("--wheelhouse", type=click.Path(path_type=Path, file_okay=False),
              help="A folder of wheels copied to every board and preferred there (a prebuilt llama-cpp-python).")
@click.option("--offline", is_flag=True, help="Boards install from the copied wheels only, never from an index.")
@click.option("--forward-hf-token", is_flag=True,
              help="Give `edgeprof run` on the boards this shell's HF_TOKEN (for gated hub models; never recorded).")
@click.option("--timeout", type=click.IntRange(1), metavar="SECONDS",
              help="Most seconds `edgeprof run` may take on one board [default: 6 hours, or edgeprof_timeout].")
@click.option("--forks", type=click.IntRange(1, 500), default=10, show_default=True, help="Boards worked on at once.")
@click.option("--emit-k8s", "emit_k8s", type=click.Path(path_type=Path, file_okay=False), metavar="DIR",
              help="Write Kubernetes Jobs (one per board) to DIR/fleet.yaml instead of running over SSH.")
@click.option("--image", help="With --emit-k8s: the container image with edgeprof installed.")
@IMAGE_FORMAT_OPTION
@NO_PROGRESS_OPTION
def fleet(inventory, models_file, suite, limit, out, wheelhouse, offline, forward_hf_token, timeout, forks,
          emit_k8s, image, image_format, no_progress) -> None:
    """Run a bench suite on every board in INVENTORY (an Ansible inventory) through Ansible, fetch each
    board's results into OUT/<device>/ and draw one report over all of them.

    Boards need SSH, Python 3.11+ and a C compiler. Per board (inventory variables): edgeprof_device,
    edgeprof_home, edgeprof_python, edgeprof_cc, edgeprof_cmake_args, edgeprof_timeout. A board that
    fails is reported with its error and the others finish; rerun to continue where each stopped.

    \b
    edgeprof fleet boards.ini                          # models.toml on every board
    edgeprof fleet boards.ini my-models.toml --suite standard --limit pis
    edgeprof fleet boards.ini --emit-k8s k8s/ --image ghcr.io/me/edgeprof:0.1.0
    """
    if emit_k8s is not None:
        _emit(inventory, models_file, suite, limit, emit_k8s, image)
        return
    from edgeprof.workflow.fleet import FleetOptions, run_fleet

    outcome = run_fleet(FleetOptions(inventory, models_file, out, suite, limit, wheelhouse, offline, forward_hf_token,
                                     timeout, forks, image_format, not no_progress), say)
    click.echo(_table(outcome))
    click.echo(f"finished in {outcome.seconds / 60:.1f} min; logs: {outcome.logs}")
    if outcome.report_html:
        click.echo(f"report: {outcome.report_html} ({len(outcome.devices)} device(s): {', '.join(outcome.devices)})")
    failed = [h for h in outcome.hosts if h.status != "ok"]
    if failed:
        raise click.ClickException(f"{len(failed)} of {len(outcome.hosts)} board(s) did not finish; fix them and "
                                   "rerun the same command to continue (finished work is kept)")


def _table(outcome) -> str:
    from edgeprof.text_table import aligned

    rows = [[h.host, h.status, h.task or "", h.message or ""] for h in outcome.hosts]
    return aligned([["host", "status", "failed task", "why"], *rows])


def _emit(inventory: Path, models_file: Path, suite: str | None, limit: str | None, out: Path, image: str | None):
    from edgeprof.fleet.inventory import read_inventory
    from edgeprof.fleet.k8s import K8sOptions, emit_k8s
    from edgeprof.workflow.models_file import load_models_file

    if not image:
        raise click.UsageError("--emit-k8s needs --image: the container image with edgeprof installed")
    from edgeprof.bench.suite import find_suite
    from edgeprof.paths import data_dir

    models = load_models_file(models_file)
    suite_path = find_suite(suite or models.suite, models_file.parent)  # a shipped suite, or a file beside models
    shipped = suite_path.parent == data_dir("bench") / "suites"
    options = K8sOptions(image=image, suite=suite_path.stem, models_toml=models_file.read_text(encoding="utf-8"),
                         suite_toml=None if shipped else suite_path.read_text(encoding="utf-8"))
    for path in emit_k8s(read_inventory(inventory, limit), options, out):
        click.echo(f"wrote {path}")
