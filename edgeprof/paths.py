"""Where edgeprof finds its shipped data (recipes, suites) and keeps its caches."""

from __future__ import annotations

import os
import re
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
    """``text`` as a lower-case file-name fragment (device names in result folders and figure names)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-").lower() or "device"
