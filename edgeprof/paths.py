"""Where edgeprof finds its shipped data (recipes, suites) and keeps its caches."""

from __future__ import annotations

import os
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
