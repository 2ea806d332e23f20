"""Content hashes of source files, cached by (path, size, mtime) so reruns do not re-read gigabytes."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from edgeprof.atomic import atomic_write_text
from edgeprof.paths import cache_dir

_CHUNK = 4 * 1024 * 1024
_HUB_BLOB = re.compile(r"[0-9a-f]{64}")


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes. Hub-cache files are named by their sha256 already: trust that."""
    real = path.resolve()
    if real.parent.name == "blobs" and _HUB_BLOB.fullmatch(real.name):
        return real.name
    stat = real.stat()
    key = f"{real}|{stat.st_size}|{stat.st_mtime_ns}"
    cache = _load_cache()
    if key in cache:
        return cache[key]
    digest = hashlib.sha256()
    with open(real, "rb") as f:
        while block := f.read(_CHUNK):
            digest.update(block)
    cache[key] = digest.hexdigest()
    _save_cache(cache)
    return cache[key]


def files_sha256(paths: list[Path]) -> str:
    """One hash for a set of files: the names and contents, in name order."""
    digest = hashlib.sha256()
    for path in sorted(paths, key=lambda p: p.name):
        digest.update(f"{path.name}\0{file_sha256(path)}\n".encode())
    return digest.hexdigest()


def _cache_file() -> Path:
    return cache_dir() / "sha256-cache.json"


def _load_cache() -> dict[str, str]:
    try:
        data = json.loads(_cache_file().read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _save_cache(cache: dict[str, str]) -> None:
    try:
        atomic_write_text(_cache_file(), json.dumps(cache))
    except OSError:
        pass  # a cache that cannot be written only costs a re-hash next time
