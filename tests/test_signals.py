"""SIGTERM and SIGHUP, for real (issue 16, class 6): the way a service manager, `kill`, a closed terminal
or an SSH session that drops ends edgeprof. Each is handled like Ctrl-C: the message and resume hint,
exit status 128 + the signal's number, finished work kept, partial files removed, and no child process
left running (the measuring process of `bench --force`, the report of `edgeprof run`) - also when the
parent itself is killed without a word. Ctrl-C in the middle of a quantization is here too: it was lost
inside llama.cpp's log callback, and the quantization went on to the end."""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

import psutil
import pytest
import test_faults
from test_faults import bench_args, complete_models, edgeprof, interrupt_when, partials, rows
from tiny import TinySpec

medium_checkpoint = test_faults.medium_checkpoint  # the fixture: a 40M-parameter checkpoint

INTERRUPTED = "Interrupted: finished files are kept; rerun the same command to resume."
ENDING = {"SIGTERM": signal.SIGTERM, "SIGHUP": signal.SIGHUP}


@pytest.mark.parametrize("sig", list(ENDING.values()), ids=list(ENDING))
def test_a_bench_sweep_ended_by_a_signal_says_so_keeps_its_rows_and_resumes(tiny_factory, tmp_path, sig):
    _, _, model = tiny_factory(TinySpec(tied=True))
    results = tmp_path / "results"
    process = edgeprof(*bench_args(model, results))
    interrupt_when(process, lambda: len(rows(results)) >= 3, sig)
    err = process.stderr.read()
    assert process.returncode == 128 + sig, err  # before: killed by the signal, nothing said
    assert re.search(rf"Interrupted: \d+ rows were saved to {re.escape(str(results / 'bench.jsonl'))} .*rerun the "
                     "same command to resume", err), err
    kept = rows(results)
    assert 3 <= len(kept) < 12 and all(r["status"] == "ok" for r in kept)
    rerun = edgeprof(*bench_args(model, results))
    _, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    final = rows(results)
    assert len(final) == 12 and len({r["cell"] for r in final}) == 12 and final[:len(kept)] == kept


# (stage, signal): the stage being written when the signal comes
CONVERT_CASES = {
    "quantization-SIGTERM": ("quantization", signal.SIGTERM),  # before: a hidden partial left behind
    "quantization-SIGHUP": ("quantization", signal.SIGHUP),  # before: the same
    "quantization-SIGINT": ("quantization", signal.SIGINT),  # before: lost in llama.cpp's log callback, exit 0
    "conversion-SIGTERM": ("conversion", signal.SIGTERM),  # before: a hidden partial left behind
}


@pytest.mark.parametrize("case", list(CONVERT_CASES))
def test_a_conversion_ended_by_a_signal_removes_its_partial_and_says_how_to_resume(medium_checkpoint, tmp_path,
                                                                                     case):
    stage, sig = CONVERT_CASES[case]
    out = tmp_path / "models"
    process = edgeprof("convert", str(medium_checkpoint), "--quant", "Q4_K_M", "--out", str(out), "--no-progress")
    target = "F16" if stage == "conversion" else "Q4_K_M"
    interrupt_when(process, lambda: bool(partials(out, target)) if out.exists() else False, sig)
    err = process.stderr.read()
    assert process.returncode == 128 + sig, err
    assert err.strip().endswith(INTERRUPTED) and "Traceback" not in err, err
    assert not partials(out)
    files = complete_models(out)
    assert not any(target in name for name in files)
    assert list(files) == ([] if stage == "conversion" else ["ckpt-F16.gguf"])  # finished files are kept


def measuring_children(process) -> list[psutil.Process]:
    found = []
    for child in psutil.Process(process.pid).children(recursive=True):
        try:
            if "spawn_main" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.Error:
            continue
    return found


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGKILL], ids=["SIGTERM", "SIGHUP", "SIGKILL"])
def test_with_force_the_measuring_child_ends_with_its_parent(tiny_factory, tmp_path, sig):
    """`bench --force` measures in a child process. Its parent ended by a signal (SIGKILL too, which
    it cannot handle): the child ends at once, and no row is appended after the parent is gone. Before,
    the child went on measuring and appending rows as an orphan."""
    _, _, model = tiny_factory(TinySpec(tied=True))
    results = tmp_path / "results"
    process = edgeprof("bench", str(model), "--force", "-p", "8", "-n", "4,4000", "-t", "1", "-r", "5",
                       "--results", str(results), "--no-progress", "--sensors", "none")
    children = []

    def measuring_the_long_cell() -> bool:
        children[:] = measuring_children(process)
        return bool(children) and len(rows(results)) >= 1

    interrupt_when(process, measuring_the_long_cell, sig)
    _, still_running = psutil.wait_procs(children, timeout=3)
    assert not still_running, "the measuring child outlived its parent"
    recorded = len(rows(results))
    time.sleep(1)
    assert len(rows(results)) == recorded == 1
    if sig != signal.SIGKILL:
        err = process.stderr.read()
        assert process.returncode == 128 + sig, err
        assert "Interrupted: 1 rows were saved" in err and "rerun the same command to resume" in err, err


SUITE = """
description = "one small scenario"

[[scenario]]
name = "levels"
prompt_tokens = [8]
gen_tokens = [4]
repetitions = 1
"""


def write_project(tmp_path: Path, checkpoint: Path) -> Path:
    (tmp_path / "suite.toml").write_text(SUITE)
    models = tmp_path / "models.toml"
    models.write_text(f'output_dir = "out"\nsuite = "suite.toml"\n\n[[models]]\nname = "tiny"\n'
                      f'source = "{checkpoint}"\n')
    return models


def test_run_ended_while_reporting_stops_its_report_and_leaves_no_partial(tiny_factory, tmp_path):
    """`edgeprof run` writes the report in a child process. SIGTERM to the run while the report is
    being drawn: the report is stopped (it removes its partial files) before the run exits; before,
    the run died at once and its report went on as an orphan."""
    checkpoint, _, _ = tiny_factory(TinySpec(tied=True))
    models = write_project(tmp_path, checkpoint)
    process = edgeprof("run", str(models), "--device-name", "box", "--no-progress", cwd=tmp_path)
    report = tmp_path / "out" / "report"
    reports = []

    def reporting() -> bool:  # the report child is at work: it has made its folder
        for child in psutil.Process(process.pid).children():
            try:
                if "report" in child.cmdline() and report.is_dir():
                    reports.append(child)
                    return True
            except psutil.Error:
                continue
        return False

    interrupt_when(process, reporting, signal.SIGTERM, timeout=300)
    err = process.stderr.read()
    assert process.returncode == 128 + signal.SIGTERM, err
    assert "Interrupted: everything finished so far is kept; rerun the same command to resume." in err, err
    assert not reports[0].is_running(), "the report outlived the run"
    assert not [p for p in report.rglob(".*") if p.name.endswith((".partial", ".tmp"))]
