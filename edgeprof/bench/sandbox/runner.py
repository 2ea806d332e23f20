"""Run one Python program, written by a model, where it can do no harm; say how it ended.

Each program runs in its own process (``python -I -S -B``: no site, no user or environment paths)
with a fresh empty temporary directory as working directory and HOME, a minimal environment, its
own session (process group), and, set between fork and exec:

- resource limits: CPU seconds, address space, file size, processes, open files, no core dumps;
- no network: its own network namespace where the kernel allows one (``confine.unshare_network``);
- Landlock where the kernel has it: nothing outside its directory can be written, renamed or
  removed, no TCP connection made, no signal sent outside (``landlock``);
- for root, which the kernel exempts from RLIMIT_NPROC, a pids cgroup (``confine.PidsCgroup``).

A wall-clock limit kills the whole process group (and the cgroup's members). Output (stdout and
stderr together) is kept up to a cap and the rest discarded. What applied is recorded with every
result, as is what did not and why.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field

from edgeprof.bench.sandbox import confine, landlock

PASSED, FAILED, TIMED_OUT, ERROR = "passed", "failed", "timed out", "error"
MIB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    wall_seconds: float = field(default=10.0, metadata={"help": "wall-clock limit; the process group is killed then"})
    cpu_seconds: int = field(default=5, metadata={"help": "RLIMIT_CPU of the program's processes"})
    memory_mb: int = field(default=1024, metadata={"help": "RLIMIT_AS: address space per process, MiB"})
    file_mb: int = field(default=16, metadata={"help": "RLIMIT_FSIZE: largest file it may write, MiB"})
    processes: int = field(default=32, metadata={"help": "RLIMIT_NPROC (a pids cgroup's pids.max for root)"})
    open_files: int = field(default=64, metadata={"help": "RLIMIT_NOFILE"})
    output_kb: int = field(default=64, metadata={"help": "output kept (stdout and stderr together), KiB"})


@dataclass(frozen=True)
class Outcome:
    status: str  # passed, failed, timed out, error
    reason: str  # '' when passed; else a short line: the exception, the limit hit, the signal
    returncode: int | None
    seconds: float
    output: str  # the first output_kb of stdout+stderr
    isolation: dict  # what applied: network, filesystem, signals, processes

    @property
    def passed(self) -> bool:
        return self.status == PASSED


def run_python(source: str, limits: Limits = Limits()) -> Outcome:
    """Run ``source`` as a Python program in the sandbox and classify how it ended."""
    work = tempfile.mkdtemp(prefix="edgeprof-sandbox-")
    try:
        with open(os.path.join(work, "program.py"), "w", encoding="utf-8") as f:
            f.write(source)
        return _run(work, limits)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run(work: str, limits: Limits) -> Outcome:
    rules = landlock.ruleset(work)
    cgroup = confine.PidsCgroup.make(limits.processes)
    report_r, report_w = os.pipe()
    started = time.perf_counter()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-B", "program.py"], cwd=work, env=_environment(work),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=_preexec(limits, rules, cgroup, report_w))
    except (OSError, subprocess.SubprocessError) as exc:
        return Outcome(ERROR, f"could not start the program: {exc}", None, 0.0, "", {})
    finally:
        os.close(report_w)
        if not isinstance(rules, str):
            rules.close()
    try:
        isolation = _isolation(_read_all(report_r), rules, cgroup, limits)
        output, returncode, timed_out = _supervise(proc, limits, cgroup)
    finally:
        if cgroup is not None:
            cgroup.remove()
    seconds = time.perf_counter() - started
    status, reason = _classify(returncode, timed_out, output, limits)
    return Outcome(status, reason, returncode, round(seconds, 3), output, isolation)


def _environment(work: str) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "HOME": work, "TMPDIR": work, "LANG": "C.UTF-8", "PYTHONIOENCODING": "utf-8"}


def _preexec(limits: Limits, rules, cgroup, report_w: int):
    """The child's last steps before exec. Everything it needs is computed here, in the parent."""
    rlimits = [(resource.RLIMIT_CPU, limits.cpu_seconds, limits.cpu_seconds + 1),
               (resource.RLIMIT_AS, limits.memory_mb * MIB, limits.memory_mb * MIB),
               (resource.RLIMIT_FSIZE, limits.file_mb * MIB, limits.file_mb * MIB),
               (resource.RLIMIT_NOFILE, limits.open_files, limits.open_files),
               (resource.RLIMIT_CORE, 0, 0)]
    ruleset_fd = None if isinstance(rules, str) else rules.fd

    def preexec() -> None:
        joined = cgroup.join() if cgroup is not None else False
        network = confine.unshare_network()
        # after the user namespace: RLIMIT_NPROC then counts the processes of this namespace only
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))
        for which, soft, hard in rlimits:
            resource.setrlimit(which, (soft, hard))
        restricted = landlock.restrict_self(ruleset_fd) if ruleset_fd is not None else False
        os.write(report_w, f"{network} {int(joined)} {int(restricted)}".encode())

    return preexec


def _read_all(fd: int) -> str:
    chunks = []
    with contextlib.closing(os.fdopen(fd, "rb")) as f:
        chunks.append(f.read())
    return b"".join(chunks).decode(errors="replace")


def _isolation(report: str, rules, cgroup, limits: Limits) -> dict:
    parts = report.split()
    network, joined, restricted = parts if len(parts) == 3 else ("-0", "0", "0")  # the child said nothing
    landlocked = restricted == "1"
    if landlocked:
        why = ""
    elif isinstance(rules, str):
        why = f": {rules}"
    else:
        why = ": landlock_restrict_self failed"
    out = {"network": confine.network_note(network),
           "filesystem": (f"Landlock ABI {rules.abi}: writes only inside its temporary directory" if landlocked
                          else f"not confined{why}; only its working directory is its own"),
           "signals": ("Landlock: no signal can reach processes outside the sandbox"
                       if landlocked and rules.signals else "not confined: the program may signal this user's "
                                                             "processes"),
           "processes": _processes_note(joined == "1", cgroup, limits)}
    if landlocked and rules.network and "not isolated" in out["network"]:
        out["network"] = "Landlock: TCP connect and bind denied (no network namespace)"
    return out


def _processes_note(joined: bool, cgroup, limits: Limits) -> str:
    if joined:
        return f"pids cgroup: at most {cgroup.limit} processes"
    if os.geteuid() == 0:
        return "not limited: root ignores RLIMIT_NPROC and no pids cgroup could be made"
    return f"RLIMIT_NPROC {limits.processes}"


def _supervise(proc: subprocess.Popen, limits: Limits, cgroup) -> tuple[str, int | None, bool]:
    """Collect capped output, wait up to the wall-clock limit, then kill the group and its cgroup."""
    kept = bytearray()
    cap = limits.output_kb * 1024

    def drain() -> None:
        while chunk := proc.stdout.read1(65536):
            if len(kept) < cap:
                kept.extend(chunk[: cap - len(kept)])

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    timed_out = False
    try:
        proc.wait(timeout=limits.wall_seconds)
    except subprocess.TimeoutExpired:
        timed_out = True
    _kill_group(proc, cgroup)
    proc.wait()
    reader.join(timeout=2.0)  # a grandchild that left the group may still hold the pipe open
    proc.stdout.close()
    return kept.decode("utf-8", errors="replace"), proc.returncode, timed_out


def _kill_group(proc: subprocess.Popen, cgroup) -> None:
    """Kill everything the program left behind: its process group, then the cgroup's members."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    if cgroup is not None:
        cgroup.kill_all()


def _classify(returncode: int | None, timed_out: bool, output: str, limits: Limits) -> tuple[str, str]:
    if timed_out:
        return TIMED_OUT, f"wall-clock limit of {limits.wall_seconds:g} s"
    if returncode == 0:
        return PASSED, ""
    if returncode is not None and returncode < 0:
        sig = -returncode
        if sig == signal.SIGXCPU:
            return TIMED_OUT, f"CPU time limit of {limits.cpu_seconds} s"
        if sig == signal.SIGKILL:
            return TIMED_OUT, f"killed (SIGKILL: the CPU time limit of {limits.cpu_seconds} s, or out of memory)"
        if sig == signal.SIGXFSZ:
            return FAILED, f"file size limit of {limits.file_mb} MiB"
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        return FAILED, f"killed by {name}"
    return FAILED, _last_line(output) or f"exit status {returncode}"


def _last_line(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""
