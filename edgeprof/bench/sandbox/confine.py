"""The parts of a sandbox that live between fork and exec: network namespace, pids cgroup.

``unshare(CLONE_NEWUSER | CLONE_NEWNET)`` gives the program a network with no interface but a
downed loopback, and (the user namespace) no capability left once it execs. Where unprivileged
user namespaces are off, root still gets its own network namespace. Root ignores RLIMIT_NPROC (the
kernel lets uid 0 fork past it), so for root a pids cgroup (v1 or v2, where one is writable) caps
the number of processes instead; it also lets every process the program started be found and killed.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import time
import uuid
from pathlib import Path

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWNET = 0x00020000, 0x10000000, 0x40000000

_libc = ctypes.CDLL(None, use_errno=True)


def unshare_network() -> str:
    """In the child: a new network namespace; returns how ('user+net', 'net') or why not ('-errno')."""
    if _libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0:
        return "user+net"
    first = ctypes.get_errno()
    if _libc.unshare(CLONE_NEWNET) == 0:
        return "net"
    return f"-{first}"


def network_note(code: str) -> str:
    if code == "user+net":
        return "isolated: own user and network namespaces (no interface, loopback down)"
    if code == "net":
        return "isolated: own network namespace (no interface, loopback down)"
    number = int(code[1:]) if code[1:].isdigit() else 0
    return f"not isolated by a namespace: unshare failed ({os.strerror(number) if number else 'unknown'})"


class PidsCgroup:
    """A fresh pids cgroup for one program (root only; None where none can be made)."""

    def __init__(self, folder: Path, limit: int):
        self.folder = folder
        self.limit = limit
        self.procs = str(folder / "cgroup.procs")

    @classmethod
    def make(cls, limit: int) -> PidsCgroup | None:
        if os.geteuid() != 0:
            return None
        for parent in _pids_parents():
            folder = parent / f"edgeprof-sandbox-{uuid.uuid4().hex[:12]}"
            try:
                folder.mkdir()
            except OSError:
                continue
            try:
                (folder / "pids.max").write_text(str(limit))
                return cls(folder, limit)
            except OSError:
                with contextlib.suppress(OSError):
                    folder.rmdir()
        return None

    def join(self) -> bool:
        """In the child: move this process into the cgroup."""
        try:
            fd = os.open(self.procs, os.O_WRONLY)
            try:
                os.write(fd, b"0")
            finally:
                os.close(fd)
            return True
        except OSError:
            return False

    def kill_all(self) -> None:
        for _ in range(50):  # a fork bomb may add members while we kill: repeat until none is left
            pids = [int(p) for p in Path(self.procs).read_text().split()] if Path(self.procs).exists() else []
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)

    def remove(self) -> None:
        self.kill_all()
        for _ in range(100):
            try:
                self.folder.rmdir()
                return
            except OSError:  # members still being reaped
                time.sleep(0.01)


def _pids_parents() -> list[Path]:
    """Where this process's pids cgroup can take a child: cgroup v1's pids hierarchy, or v2's."""
    out = []
    with contextlib.suppress(OSError):
        own = {}
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            own[controllers] = path
        for line in Path("/proc/self/mounts").read_text().splitlines():
            _, mountpoint, fstype, options = line.split()[:4]
            if fstype == "cgroup" and "pids" in options.split(","):
                key = next((k for k in own if "pids" in k.split(",")), None)
                if key is not None:
                    out.append(Path(mountpoint) / own[key].lstrip("/"))
            elif fstype == "cgroup2" and "" in own:
                folder = Path(mountpoint) / own[""].lstrip("/")
                if "pids" in _read(folder / "cgroup.subtree_control").split():
                    out.append(folder)
    return out


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""
