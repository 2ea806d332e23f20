"""Files appear only when complete: write to a temporary name in the same folder, then rename."""

from __future__ import annotations

import contextlib
import glob
import os
import secrets
from collections.abc import Iterator
from pathlib import Path


def temp_name(final: Path) -> Path:
    """The in-progress name for ``final``: hidden, ends in .partial, unique per writer (the process id,
    which tells a dead writer's leftovers, and a random part: two writers never share a file)."""
    return final.with_name(f".{final.name}.{os.getpid()}-{secrets.token_hex(4)}.partial")


@contextlib.contextmanager
def atomic_output(final: Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it is fsynced and renamed to ``final``.

    On any failure (including Ctrl-C) the temporary file is removed, so nothing half-written
    is ever left under the final name.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(final)
    tmp = temp_name(final)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, final)
    except OSError as exc:
        if exc.filename is None:  # a failed write() names no file; the user knows the final name
            exc.filename = str(final)
        raise
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def remove_stale_partials(final: Path) -> None:
    """Delete what a killed earlier run (SIGKILL, power loss) left of ``final``: temporary files of
    processes that no longer exist. A live process's file is left alone."""
    for leftover in final.parent.glob(f".{glob.escape(final.name)}.*.partial"):
        pid = leftover.name[len(final.name) + 2:-len(".partial")].split("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        pass
    return True


def atomic_write_text(final: Path, text: str) -> None:
    with atomic_output(final) as tmp:
        tmp.write_text(text, encoding="utf-8")
