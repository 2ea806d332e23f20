"""Faults caused for real: SIGKILL in the middle of a conversion, a quantization and a bench sweep;
Ctrl-C (SIGINT); a write the operating system refuses (file-size limit). After each: no file looks
complete that is not, the results store reads, and a rerun finishes the job without duplicate rows."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tiny import TinySpec, build_checkpoint

from edgeprof.gguf_check import check_loadable
from edgeprof.results.store import read_jsonl

# Big enough (about 40M parameters, an 80 MB F16 file) that writing and quantizing take a while.
MEDIUM = TinySpec(hidden=1024, ffn=4096, layers=4, heads=8, kv_heads=4, tied=True)
LEVELS = "Q8_0,Q4_K_M,Q2_K"


def edgeprof(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "edgeprof", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


def interrupt_when(process: subprocess.Popen, ready, sig: int = signal.SIGKILL, timeout: float = 120) -> None:
    """Send ``sig`` the moment ``ready()`` is true (polled every millisecond); fail if it never is."""
    deadline = time.monotonic() + timeout
    while not ready():
        assert process.poll() is None, f"finished before the fault could be caused: {process.communicate()}"
        assert time.monotonic() < deadline, "the moment never came"
        time.sleep(0.001)
    process.send_signal(sig)
    process.wait(timeout=60)


def partials(folder: Path, containing: str = "") -> list[Path]:
    return [p for p in folder.glob(".*.partial") if containing in p.name]


def complete_models(folder: Path) -> dict[str, Path]:
    """Every GGUF under its final name, each of which must be whole."""
    found = {}
    for path in sorted(folder.glob("*.gguf")):
        check_loadable(path)  # raises if it were cut short
        found[path.name] = path
    return found


@pytest.fixture(scope="module")
def medium_checkpoint(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("medium") / "ckpt"
    build_checkpoint(folder, MEDIUM)
    return folder


@pytest.mark.parametrize("stage", ["conversion", "quantization"])
def test_sigkill_mid_write_leaves_no_complete_looking_file_and_rerun_finishes(medium_checkpoint, tmp_path, stage):
    out = tmp_path / "models"
    args = ["convert", str(medium_checkpoint), "--quant", LEVELS, "--out", str(out), "--no-progress"]
    target = "F16" if stage == "conversion" else "Q4_K_M"
    interrupt_when(edgeprof(*args), lambda: bool(partials(out, target)) if out.exists() else False)
    files = complete_models(out)
    assert not any(target in name for name in files)  # killed mid-write: not there under its own name
    assert partials(out, target)  # what was left is hidden and named .partial
    rerun = edgeprof(*args)
    _, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    files = complete_models(out)
    assert {name.split("-")[-1] for name in files} == {"F16.gguf", "Q8_0.gguf", "Q4_K_M.gguf", "Q2_K.gguf"}
    assert not partials(out)  # the dead run's leftovers were cleared


def bench_args(model: Path, results: Path) -> list[str]:
    """12 cells: 3 prompt lengths x 2 generation lengths x 2 thread counts. Long enough (~0.1 s a cell)
    that an interrupt sent after the third row lands mid-sweep even when two spinning llama.cpp threads
    leave the test process little CPU on a 2-core machine (CI: the 9 cells left once ran out first)."""
    return ["bench", str(model), "-p", "8,16,24", "-n", "32,64", "-t", "1,2", "-r", "3", "--results", str(results),
            "--no-progress", "--sensors", "none"]


def rows(results: Path) -> list[dict]:
    return list(read_jsonl(results / "bench.jsonl"))


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_bench_sweep_interrupted_keeps_rows_and_resumes_without_duplicates(tiny_factory, tmp_path, sig):
    _, _, model = tiny_factory(TinySpec(tied=True))
    results = tmp_path / "results"
    process = edgeprof(*bench_args(model, results))
    interrupt_when(process, lambda: len(rows(results)) >= 3, sig)
    kept = rows(results)
    assert 3 <= len(kept) < 12 and all(r["status"] == "ok" for r in kept)
    if sig == signal.SIGINT:
        assert process.returncode == 130
        assert "rerun the same command to resume" in process.stderr.read()
    rerun = edgeprof(*bench_args(model, results))
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    final = rows(results)
    assert len(final) == 12 and len({r["cell"] for r in final}) == 12  # resumed, nothing measured twice
    assert final[:len(kept)] == kept


def _file_size_limit(limit: int):
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write then fails with EFBIG instead of killing us
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_refused_write_of_a_gguf_removes_the_partial_and_keeps_finished_files(tiny_factory, tmp_path):
    checkpoint, _, _ = tiny_factory(TinySpec(tied=True))
    out = tmp_path / "models"
    first = edgeprof("convert", str(checkpoint), "--quant", "Q8_0", "--out", str(out), "--no-progress")
    assert first.wait(timeout=120) == 0
    before = {name: path.read_bytes() for name, path in complete_models(out).items()}
    largest = max(len(data) for data in before.values())
    # Writing F32 (twice the F16's size) cannot fit under a limit just above the finished files' size.
    limited = edgeprof("convert", str(checkpoint), "--outtype", "f32", "--quant", "Q4_0", "--out", str(out),
                       "--no-progress", preexec_fn=_file_size_limit(largest + 4096))
    _, err = limited.communicate(timeout=120)
    assert limited.returncode == 1
    line = err.strip().splitlines()[-1]
    assert line.startswith("Error: ") and "F32.gguf" in line and "refused to grow this file" in line, err
    assert "Traceback" not in err
    assert not partials(out)
    after = complete_models(out)
    assert {name: path.read_bytes() for name, path in after.items() if name in before} == before
    assert not any("F32" in name for name in after)


def test_refused_write_of_results_keeps_the_earlier_rows(tiny_factory, tmp_path):
    _, _, model = tiny_factory(TinySpec(tied=True))
    results = tmp_path / "results"
    one = edgeprof(*bench_args(model, results)[:2], "-p", "8", "-n", "4", "-r", "1", "--results", str(results),
                   "--no-progress", "--sensors", "none")
    assert one.wait(timeout=120) == 0
    row_size = (results / "bench.jsonl").stat().st_size
    limited = edgeprof(*bench_args(model, results), preexec_fn=_file_size_limit(int(row_size * 3.5)))
    _, err = limited.communicate(timeout=300)
    assert limited.returncode == 1, err
    assert err.strip().splitlines()[-1].startswith(f"Error: {results / 'bench.jsonl'}: the file system"), err
    kept = rows(results)
    assert 2 <= len(kept) <= 3 and all(r["status"] == "ok" for r in kept)  # a torn last row is not read back
    json.loads((results / "bench.jsonl").read_text().splitlines()[0])
    assert os.path.getsize(results / "bench.jsonl") <= row_size * 3.5


def test_with_force_a_killed_measuring_process_is_reported_and_the_next_model_runs(tiny_levels, tmp_path):
    """--force measures each model in a child process. Killing that child with SIGKILL, as the
    kernel's out-of-memory killer would, while it has the first model loaded: the cells it did not
    finish are recorded as failed with how it died, the second model is measured, no hang."""
    import psutil

    files = tiny_levels("Q8_0")
    first, second = files["F16"], files["Q8_0"]
    results = tmp_path / "results"
    process = edgeprof("bench", str(first), str(second), "--force", "-p", "8", "-n", "4,4000", "-t", "1", "-r", "3",
                       "--results", str(results), "--no-progress", "--sensors", "none")

    def measuring_child_has_the_first_model():
        for child in psutil.Process(process.pid).children(recursive=True):
            try:
                if "spawn_main" in " ".join(child.cmdline()) and any(
                        m.path == str(first) for m in child.memory_maps()):
                    child.kill()
                    return True
            except psutil.Error:
                continue
        return False

    deadline = time.monotonic() + 120
    while not measuring_child_has_the_first_model():
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.005)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    by_model = {}
    for row in rows(results):
        by_model.setdefault(row["model"]["file"], []).append(row)
    assert sorted(r["settings"]["n_gen"] for r in by_model[first.name]) == [4, 4000]  # every cell has a row
    lost = [r for r in by_model[first.name] if r["status"] == "failed"]
    assert lost and all(r["error"] == f"{first}: the process measuring it died before finishing: it was killed by "
                        "SIGKILL (what the kernel's out-of-memory killer sends when memory runs out)" for r in lost)
    assert [r["status"] for r in by_model[second.name]] == ["ok", "ok"]
    assert f"failed: {lost[0]['error']}" in err


def _small_filesystem_works() -> bool:
    import shutil

    if not shutil.which("unshare"):
        return False
    probe = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
                            "mount -t tmpfs -o size=64k tmpfs /tmp && echo ok"], capture_output=True, text=True)
    return probe.stdout.strip() == "ok"


def _on_a_full_disk(size: str, mount: Path, script: str) -> tuple[str, str]:
    """Run ``script`` (sh) in a private mount namespace where ``mount`` is a tmpfs of ``size``: a real
    file system that really fills up (ENOSPC); it vanishes with the namespace, so ``script`` reports."""
    mount.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
                           f"mount -t tmpfs -o size={size} tmpfs {mount} && {script}"],
                          capture_output=True, text=True, timeout=300)
    return done.stdout, done.stderr


@pytest.mark.skipif(not _small_filesystem_works(), reason="no unprivileged mount namespaces here; the file-size "
                    "limit tests above cover the same failure")
def test_disk_full_while_converting_and_while_recording_results(tiny_factory, tmp_path):
    checkpoint, _, model = tiny_factory(TinySpec(tied=True))
    disk = tmp_path / "disk"
    python = f"{sys.executable} -m edgeprof"
    # 1 MiB cannot hold the 2.7 MB F16 file: the write fails partway.
    out, err = _on_a_full_disk("1m", disk, f"{python} convert {checkpoint} --out {disk}/models --no-progress; "
                                           f"echo rc=$?; ls -A {disk}/models 2>/dev/null")
    assert err == f"Error: {disk}/models/ckpt-F16.gguf: no space left on the device; free some space and rerun " \
                  "(finished files are kept and reused)\n"
    assert out == "rc=1\n"  # nothing left: the partial file was removed, then the folder the run made
    # 12 rows of about 3.5 KB on a 16 KiB disk: the first rows are kept whole, then one line.
    out, err = _on_a_full_disk("16k", disk, f"{python} {' '.join(bench_args(model, disk / 'r'))} ; echo rc=$?; "
                                       f"{sys.executable} -c \"import json; from edgeprof.results.store import "
                                       f"read_jsonl; rows = list(read_jsonl(__import__('pathlib').Path('{disk}/r/"
                                       f"bench.jsonl'))); print('rows', len(rows), all(r['status'] == 'ok' "
                                       f"for r in rows))\"")
    assert err.strip().splitlines()[-1].startswith(f"Error: {disk}/r/bench.jsonl: no space left on the device"), err
    assert out.startswith("rc=1\nrows ") and out.endswith(" True\n"), out
    assert 1 <= int(out.split()[2]) < 12


def test_ctrl_c_mid_conversion_says_how_to_resume_and_leaves_no_partial(medium_checkpoint, tmp_path):
    out = tmp_path / "models"
    process = edgeprof("convert", str(medium_checkpoint), "--quant", "Q8_0", "--out", str(out), "--no-progress")
    interrupt_when(process, lambda: bool(partials(out, "F16")) if out.exists() else False, signal.SIGINT)
    assert process.returncode == 130
    assert process.stderr.read().strip().endswith("Interrupted: finished files are kept; rerun the same command "
                                                  "to resume.")
    assert not partials(out) and not complete_models(out)  # the half-written file was removed on the way out
