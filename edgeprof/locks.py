"""One edgeprof command at a time per output folder.

Two benches on one results folder would both measure every cell on a shared CPU (each slowing the
other) and each print the other's rows as its own; two converts into one folder would both quantize
every level; two reports into one folder would draw over each other. So a command that writes into a
folder first holds an exclusive advisory lock on ``<folder>/.edgeprof.lock`` (``flock``, taken without
waiting). The file says who holds it, so a refusal names the other process; the holder removes it
when done. The kernel releases the lock when its holder ends, however it ends: a lock file left behind
by SIGKILL or power loss never blocks anyone. Readers (plot/report reading results) take no lock: rows
are appended whole.

Where ``flock`` does not exist (Windows) or the file system refuses it (some network mounts), the
command goes on without the lock, with a note.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from edgeprof.errors import MESSAGES, fail
from edgeprof.progress import Say, quiet

LOCK_NAME = ".edgeprof.lock"


@contextlib.contextmanager
def hold(folder: Path, holder: str, option: str, say: Say = quiet) -> Iterator[None]:
    """Hold ``folder`` (made if missing) for the block, or refuse at once naming the command that
    holds it. ``holder``: this command as the refusal of another would name it ("edgeprof bench");
    ``option``: what the user changes to use another folder ("--results")."""
    try:
        import fcntl
    except ImportError:  # Windows
        say(MESSAGES["lock_unavailable"].format(folder=folder, detail="no flock on this system"))
        yield
        return
    made = [f for f in (folder, *folder.parents) if not f.exists()]  # deepest first
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    fd, locked = _lock(path, folder, option, fcntl, say)
    try:
        if locked:
            _write_holder(fd, holder)
        yield
    finally:
        with contextlib.suppress(OSError):  # removed while still held, so no one locks a file no longer there
            path.unlink()
        os.close(fd)
        for empty in made:  # a command that failed before writing anything leaves no folder behind
            try:
                empty.rmdir()
            except OSError:
                break


def _lock(path: Path, folder: Path, option: str, fcntl, say: Say) -> tuple[int, bool]:
    """An open descriptor of the lock file and whether it is locked (False: locks do not work here)."""
    while True:
        fd = _open(path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if _still_there(fd, path):
                os.close(fd)
                raise _refusal(path, folder, option) from None
        except OSError as exc:  # ENOLCK, EOPNOTSUPP: a file system without locks
            say(MESSAGES["lock_unavailable"].format(folder=folder, detail=exc.strerror or exc))
            return fd, False
        else:
            if _still_there(fd, path):
                return fd, True
        os.close(fd)  # its holder removed it as we opened it: try the file there now


def _still_there(fd: int, path: Path) -> bool:
    try:
        here, there = os.fstat(fd), path.stat()
    except FileNotFoundError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


def _open(path: Path) -> int:
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except PermissionError:  # another user's lock file in a shared folder: flock works read-only too
        if not path.is_file():
            raise
        return os.open(path, os.O_RDONLY)


def _write_holder(fd: int, holder: str) -> None:
    info = {"pid": os.getpid(), "command": holder, "started": time.time(), "host": socket.gethostname()}
    with contextlib.suppress(OSError):  # a read-only lock file: the refusal of others names no one
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)


def _refusal(path: Path, folder: Path, option: str):
    info = _read_holder(path)
    if info is None:
        return fail("folder_in_use_unknown", folder=folder, lock=path, option=option)
    host = info.get("host")
    return fail("folder_in_use", folder=folder, holder=info.get("command", "edgeprof"), pid=info.get("pid", "?"),
                host=f" on {host}" if host and host != socket.gethostname() else "",
                since=_since(info.get("started")), option=option)


def _read_holder(path: Path, patience: float = 1.0) -> dict | None:
    """What the holder wrote; it writes right after locking, so an empty file is retried briefly."""
    deadline = time.monotonic() + patience
    while True:
        try:
            info = json.loads(path.read_bytes() or b"null")
        except (OSError, ValueError):
            info = None
        if isinstance(info, dict) or time.monotonic() > deadline:
            return info if isinstance(info, dict) else None
        time.sleep(0.02)


def _since(started) -> str:
    if not isinstance(started, (int, float)):
        return "?"
    then = time.localtime(started)
    today = time.localtime()[:3] == then[:3]
    return time.strftime("%H:%M" if today else "%Y-%m-%d %H:%M", then)
