"""The edgeprof command group: turns errors into one line, Ctrl-C (and SIGTERM, SIGHUP) into a note, and
holds the commands (one module each). Heavy modules (llama_cpp, gguf, numpy, matplotlib) are imported
inside the commands so that ``edgeprof --help`` answers at once."""

from __future__ import annotations

import os
import sys

import click

from edgeprof import __version__

INTERRUPTED = "Interrupted: finished files are kept; rerun the same command to resume."


class EdgeprofGroup(click.Group):
    """Turns our errors (and OS errors we can explain) into one line and exit code 1."""

    def invoke(self, ctx: click.Context):
        from edgeprof.errors import explain

        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:
            message = explain(exc)
            if message is None or os.environ.get("EDGEPROF_DEBUG"):
                raise
            raise click.ClickException(message) from None


@click.group(cls=EdgeprofGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="edgeprof")
def cli() -> None:
    """Profile LLMs on edge devices with llama.cpp: convert, bench, plot.

    \b
    edgeprof convert demo                      # the embedded demo model, default levels
    edgeprof bench models/*.gguf -t 1,2,4      # speed, memory, power on this device
    edgeprof report                            # leaderboard, figures, every number
    edgeprof run models.toml                   # all of it for every model listed there
    edgeprof fleet boards.ini                  # `run` on every board of an Ansible inventory

    Set EDGEPROF_DEBUG=1 to see tracebacks instead of one-line errors.
    """


def _register() -> None:
    from edgeprof.cli.bench import bench
    from edgeprof.cli.convert import convert
    from edgeprof.cli.fleet import fleet
    from edgeprof.cli.plot import plot, report
    from edgeprof.cli.run import run

    for command in (convert, bench, plot, report, run, fleet):
        cli.add_command(command)


_register()


def main() -> None:
    """Console entry point."""
    from edgeprof.cli.interrupts import exit_code, install

    install()  # SIGTERM and SIGHUP take Ctrl-C's path below
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort as exc:  # click turns Ctrl-C (KeyboardInterrupt) into Abort
        click.echo(INTERRUPTED, err=True)
        sys.exit(exit_code(exc.__cause__))
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt as exc:
        click.echo(INTERRUPTED, err=True)
        sys.exit(exit_code(exc))
