"""Child processes that never outlive their parent: stopped when the parent is interrupted, and
ending by themselves when the parent dies without a word (SIGKILL, the out-of-memory killer)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys

PR_SET_PDEATHSIG = 1  # linux/prctl.h


def stop(child, grace: float = 10.0) -> None:
    """End ``child`` (a ``multiprocessing.Process`` or a ``subprocess.Popen``) if it still runs:
    SIGTERM first, so it can remove its partial files, then SIGKILL after ``grace`` seconds."""
    if not _running(child):
        return
    wait = child.join if hasattr(child, "join") else child.wait
    with contextlib.suppress(ProcessLookupError):
        child.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        wait(grace)
    if _running(child):
        with contextlib.suppress(ProcessLookupError):
            child.kill()
        wait()


def _running(child) -> bool:
    return child.is_alive() if hasattr(child, "is_alive") else child.poll() is None


def die_with_parent(parent_pid: int) -> None:
    """Called first thing in a child: on Linux the kernel sends it SIGTERM when its parent ends;
    elsewhere the child checks ``orphaned`` between units of work."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    if orphaned(parent_pid):  # the parent died before the line above took effect
        raise SystemExit(1)


def orphaned(parent_pid: int) -> bool:
    """Whether the process that started this one has ended (this one was handed to another parent)."""
    return os.getppid() != parent_pid
