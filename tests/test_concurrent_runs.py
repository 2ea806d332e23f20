"""Two edgeprof commands on one folder, for real (issue 16, class 5): the second is refused at once
with a line naming the first (its command and pid), the first finishes undisturbed, and a folder whose
holder was killed is free again. Commands on different folders run side by side."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from test_faults import bench_args, edgeprof, rows
from tiny import TinySpec

from edgeprof.locks import LOCK_NAME


def started_writing(folder: Path, pattern: str):
    return lambda: folder.is_dir() and any(folder.glob(pattern))


def wait_for(process, ready, timeout: float = 120) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not ready():
        assert process.poll() is None, f"finished before the second one could start: {process.communicate()}"
        assert time.monotonic() < deadline, "the first command never started writing"
        time.sleep(0.002)


def report_args(results: Path, out: Path) -> list[str]:
    return ["report", "--results", str(results), "--out", str(out)]


def plot_args(results: Path, out: Path) -> list[str]:
    return ["plot", "--results", str(results), "--out", str(out)]


@pytest.fixture(scope="module")
def measured(tiny_factory, tmp_path_factory) -> Path:
    """A results folder with a few rows to draw."""
    _, _, model = tiny_factory(TinySpec(tied=True))
    results = tmp_path_factory.mktemp("measured") / "results"
    done = edgeprof("bench", str(model), "-p", "8,16", "-n", "4", "-t", "1,2", "-r", "2", "--results", str(results),
                    "--no-progress", "--sensors", "none")
    assert done.wait(timeout=300) == 0, done.communicate()
    return results


# case: (command, its arguments, the folder both write to, what shows the first one at work, the option to change)
def _cases(model: Path, checkpoint: Path, measured: Path, tmp: Path) -> dict:
    return {
        "bench": (bench_args(model, tmp / "results"), tmp / "results", "bench.jsonl", "--results"),
        "report": (report_args(measured, tmp / "report"), tmp / "report", "figures/*", "--out"),
        "plot": (plot_args(measured, tmp / "figures"), tmp / "figures", "*.png", "--out"),
        "convert": (["convert", str(checkpoint), "--quant", "Q8_0,Q4_0", "--out", str(tmp / "models"),
                     "--no-progress"], tmp / "models", ".*.partial", "--out"),
    }


@pytest.mark.parametrize("command", ["bench", "report", "plot", "convert"])
def test_a_second_command_on_a_folder_in_use_is_refused_naming_the_first(command, tiny_factory, measured, tmp_path):
    """The first is paused (SIGSTOP) while it holds the folder, so the second surely meets it at work;
    before the lock the second measured/converted/drew everything again (bench printed the other's rows)."""
    checkpoint, _, model = tiny_factory(TinySpec(tied=True))
    args, folder, working, option = _cases(model, checkpoint, measured, tmp_path)[command]
    first = edgeprof(*args)
    wait_for(first, started_writing(folder, working))
    first.send_signal(signal.SIGSTOP)
    try:
        second = edgeprof(*args)
        out, err = second.communicate(timeout=300)
    finally:
        first.send_signal(signal.SIGCONT)
    first_out, first_err = first.communicate(timeout=300)
    assert first.returncode == 0, first_err
    assert second.returncode == 1, err
    assert out == ""
    assert re.fullmatch(rf"Error: {re.escape(str(folder))} is in use by edgeprof {command} \(pid {first.pid}, since "
                        rf"\d\d:\d\d\); wait for it or use another {option}", err.splitlines()[-1]), err
    if command == "bench":  # the first measured each cell once and printed only its own rows
        final = rows(folder)
        assert len(final) == 12 and len({r["cell"] for r in final}) == 12
    assert not (folder / LOCK_NAME).exists() and not list(folder.glob(".*.partial"))  # nothing left behind


def test_a_run_is_refused_on_a_results_folder_a_bench_is_writing(tiny_factory, tmp_path):
    """`edgeprof run` holds its device's results folder (and the models folder) before converting."""
    from test_signals import write_project

    checkpoint, _, model = tiny_factory(TinySpec(tied=True))
    models = write_project(tmp_path, checkpoint)
    results = tmp_path / "out" / "box"
    first = edgeprof(*bench_args(model, results))
    wait_for(first, started_writing(results, "bench.jsonl"))
    first.send_signal(signal.SIGSTOP)
    try:
        second = edgeprof("run", str(models), "--device-name", "box", "--no-progress", cwd=tmp_path)
        _, err = second.communicate(timeout=300)
    finally:
        first.send_signal(signal.SIGCONT)
    assert first.wait(timeout=300) == 0
    assert second.returncode == 1, err
    wanted = (rf"Error: \S*out/box is in use by edgeprof bench \(pid {first.pid}, since \d\d:\d\d\); wait for it or "
              r"use another --device-name \(or output_dir in models.toml\)")
    assert re.fullmatch(wanted, err.splitlines()[-1]), err
    assert not (tmp_path / "out" / "models").exists()  # refused before converting anything


def test_a_folder_whose_holder_was_killed_is_free_again(tiny_factory, tmp_path):
    """SIGKILL leaves the lock file behind, but the kernel has released the lock: the rerun resumes."""
    from test_faults import interrupt_when

    _, _, model = tiny_factory(TinySpec(tied=True))
    results = tmp_path / "results"
    interrupt_when(edgeprof(*bench_args(model, results)), lambda: len(rows(results)) >= 2, signal.SIGKILL)
    assert (results / LOCK_NAME).is_file()
    rerun = edgeprof(*bench_args(model, results))
    _, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    assert len({r["cell"] for r in rows(results)}) == 12


def test_reports_into_different_folders_run_side_by_side(measured, tmp_path):
    both = [edgeprof(*report_args(measured, tmp_path / name)) for name in ("a", "b")]
    for process in both:
        _, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
    assert (tmp_path / "a" / "report.html").is_file() and (tmp_path / "b" / "report.html").is_file()


DRAW_AND_SAVE = """
import sys
from pathlib import Path
from edgeprof.plot.style import pyplot, save
plt = pyplot()
for _ in range(40):
    fig = plt.figure(figsize=(2, 2))
    fig.gca().plot([0, 1], [1, 0])
    save(fig, Path(sys.argv[1]), "png")
"""


def test_writers_of_one_figure_never_share_a_temporary_name(tmp_path):
    """Figures are written under a temporary name, then renamed. Two processes writing the same figure
    (two reports before the lock; a plot and a report) used one fixed temporary name and failed on
    each other's rename."""
    writers = [subprocess.Popen([sys.executable, "-c", DRAW_AND_SAVE, str(tmp_path / "curve")], stderr=subprocess.PIPE,
                                text=True) for _ in range(3)]
    for writer in writers:
        _, err = writer.communicate(timeout=300)
        assert writer.returncode == 0, err
    assert [p.name for p in tmp_path.iterdir()] == ["curve.png"]


def test_where_the_file_system_has_no_locks_the_command_goes_on_with_a_note(tmp_path, monkeypatch):
    """Some network mounts refuse flock (ENOLCK): refusing to work there would help no one."""
    import errno
    import fcntl

    from edgeprof.locks import hold

    def no_locks(fd, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    notes = []
    with hold(tmp_path / "results", "edgeprof bench", "--results", notes.append):
        (tmp_path / "results" / "bench.jsonl").write_text("")
    assert notes == [f"note: {tmp_path / 'results'}: cannot lock it (No locks available), so nothing stops a second "
                     "edgeprof command from writing there at the same time"]
    assert [p.name for p in (tmp_path / "results").iterdir()] == ["bench.jsonl"]
