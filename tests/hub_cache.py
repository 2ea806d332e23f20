"""A Hugging Face hub cache laid out as huggingface_hub leaves it after a download, for offline tests:
``models--owner--name/refs/main`` -> commit, ``snapshots/<commit>/<file>`` -> ``../../blobs/<etag>``,
where the etag is the sha256 for LFS files (weights) and the git blob sha1 for small text files."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

COMMIT = "0123456789abcdef0123456789abcdef01234567"
LFS_SUFFIXES = (".safetensors", ".model", ".bin")


def etag(path: Path) -> str:
    data = path.read_bytes()
    if path.suffix in LFS_SUFFIXES:
        return hashlib.sha256(data).hexdigest()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def hub_cache_with(repo_id: str, files: list[Path], hub_cache: Path, monkeypatch) -> Path:
    """Cache ``files`` as repo ``repo_id`` at COMMIT, point huggingface_hub at it (offline); returns the
    snapshot folder."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hub_cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    repo = hub_cache / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT)
    (repo / "blobs").mkdir()
    snapshot = repo / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    for path in files:
        blob = repo / "blobs" / etag(path)
        blob.write_bytes(path.read_bytes())
        os.symlink(os.path.relpath(blob, snapshot), snapshot / path.name)
    return snapshot
