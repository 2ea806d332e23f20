"""Where edgeprof finds its shipped data (recipes, suites) and keeps its caches."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """The folder of shipped data ``name`` ('quantize' or 'bench').

    Installed wheels carry it inside the package (``edgeprof/_data/<name>``); an editable
    checkout finds the top-level folder of the repository instead.
    """
    packaged = _PACKAGE / "_data" / name
    if packaged.is_dir():
        return packaged
    return _PACKAGE.parent / name


def cache_dir() -> Path:
    """edgeprof's own cache (demo checkpoint, hash cache). ``EDGEPROF_CACHE`` overrides."""
    if env := os.environ.get("EDGEPROF_CACHE"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "edgeprof"


def safe_name(name: str, what: str) -> str:
    """``name`` when it can be one file or folder name inside an output folder: no separators, no
    leading dot (``..``, hidden files), no control characters. Names come from users, models.toml,
    hub repo ids and GGUF metadata, and must never place a file outside the folder asked for."""
    if (not name or name.startswith(".") or any(c in name for c in "/\\") or any(ord(c) < 32 for c in name)
            or len(name.encode()) > 200):
        from edgeprof.errors import fail

        raise fail("unsafe_name", name=name, what=what)
    return name


def all_cores() -> int:
    """The CPU cores this process may run on: its affinity set where the OS has one (Linux: a
    container or ``taskset`` limits it), else every logical core (macOS, Windows)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def slug(text: str) -> str:
    """``text`` as a lower-case file-name fragment (device names in result folders and figure names):
    never hidden, never ``..`` (``../../etc/x`` -> ``etc-x``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-").lstrip(".-").lower() or "device"


def check_writable(folder: Path, shown: Path | None = None) -> None:
    """Refuse, before any work starts, a folder edgeprof will write into but cannot: found after the
    first measurement, the measurement would be lost. ``shown``: the name the user gave (a file to be
    written in ``folder``), when it is not ``folder`` itself.

    The folder, followed through symbolic links, or where it does not exist yet the nearest folder
    above it, must take a new file. That is tried (a hidden file created and removed at once): only
    the system knows (permissions, read-only mounts, root on sysfs, ACLs). Nothing is left behind and
    no folder is made."""
    from edgeprof.errors import fail

    shown = shown or folder
    existing = Path(folder)
    while not existing.exists():
        if existing.is_symlink():  # mkdir would fail on it
            raise fail("dangling_link", path=existing, target=os.readlink(existing))
        existing = existing.parent
    if not existing.is_dir():
        raise fail("below_a_file", path=shown, file=existing)
    try:
        fd, probe = tempfile.mkstemp(prefix=".edgeprof-write-test-", dir=existing)
    except OSError as exc:
        real = existing.resolve()
        via = f" ({existing} leads to {real})" if real != existing.absolute() else ""
        raise fail("cannot_write", path=shown, reason=(exc.strerror or str(exc)).lower(), via=via) from None
    os.close(fd)
    os.unlink(probe)


def check_appendable(path: Path) -> None:
    """An existing file edgeprof appends to (a results store) must open for appending; opening
    changes nothing in it. A file not there yet is its folder's matter (``check_writable``)."""
    from edgeprof.errors import fail

    if not path.is_file():
        return
    try:
        with open(path, "ab"):
            pass
    except OSError as exc:
        raise fail("cannot_write", path=path, reason=(exc.strerror or str(exc)).lower(), via="") from None
