"""Hugging Face Hub downloads: only the files conversion needs, into the user's own hub cache."""

from __future__ import annotations

import os
import re
from pathlib import Path

from edgeprof.errors import fail

REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")

# What conversion reads. Pickle weights (*.bin) are deliberately absent: we never load them.
# The tokenizer (one of the first two) and the side files gguf-py's SpecialVocab reads.
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model")
TOKENIZER_SIDE_FILES = ("tokenizer_config.json", "special_tokens_map.json", "added_tokens.json")
# Everything but the weights that a conversion reads (and hashes, to know when to redo it).
CONFIG_FILES = ("config.json", "generation_config.json", *TOKENIZER_FILES, *TOKENIZER_SIDE_FILES)
CONVERT_FILES = [*CONFIG_FILES, "*.safetensors", "model.safetensors.index.json", "README.md", "LICENSE*"]
# Only with --allow-pickle, read by the restricted reader (torch_zip), never by pickle itself.
PICKLE_FILES = ["pytorch_model*.bin", "pytorch_model.bin.index.json"]


def looks_like_repo_id(text: str) -> bool:
    return bool(REPO_ID.match(text)) and not text.startswith((".", "/"))


def download(repo_id: str, revision: str | None = None, patterns: list[str] | None = None,
             repo_type: str = "model") -> Path:
    """snapshot_download of the files matching ``patterns`` (default: what conversion reads), with hub
    errors turned into one line (HF_TOKEN and HF_HUB_OFFLINE honoured)."""
    from huggingface_hub import errors as hub_errors
    from huggingface_hub import snapshot_download

    try:
        folder = Path(snapshot_download(repo_id, revision=revision, repo_type=repo_type,
                                        allow_patterns=patterns or CONVERT_FILES))
    except hub_errors.GatedRepoError:
        raise fail("hub_gated", repo=repo_id) from None
    except (hub_errors.RepositoryNotFoundError, hub_errors.RevisionNotFoundError):
        raise fail("hub_not_found", repo=repo_id) from None
    except (hub_errors.LocalEntryNotFoundError, getattr(hub_errors, "OfflineModeIsEnabled", ())) as exc:
        if _offline():
            raise fail("hub_offline", repo=repo_id) from None
        raise fail("hub_network", repo=repo_id, detail=str(exc).splitlines()[0]) from None
    except (hub_errors.HfHubHTTPError, OSError) as exc:
        raise fail("hub_network", repo=repo_id,
                   detail=str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None
    verify_snapshot(folder)
    return folder


VERIFIED_NAME = "hub-verified.jsonl"  # in edgeprof's cache: blobs already found to match their hash


def verify_snapshot(folder: Path) -> None:
    """Check every file of a hub-cache snapshot against the hash the hub gave it.

    The cache stores each file once under ``blobs/<etag>`` and links it from the snapshot. The hub's
    etag is the file's sha256 for LFS files (weights) and its git blob sha1 for small files, so both
    can be checked here, offline: a download cut short or a disk error is caught before the bytes
    are converted. A blob that matched is remembered with its size and modification time, so a
    resumed run does not read gigabytes again before finding its files already converted; a blob
    written since (a repair, a damaged rewrite) is checked again."""
    from edgeprof.paths import cache_dir
    from edgeprof.results.store import append_jsonl, read_jsonl

    record = cache_dir() / VERIFIED_NAME
    known = {(r.get("blob"), r.get("size"), r.get("mtime_ns")) for r in read_jsonl(record)}
    matched = []
    for path in sorted(folder.rglob("*")):
        if not path.is_symlink() or not path.is_file():
            continue  # not the hub cache's layout (e.g. a local_dir copy): nothing to check against
        etag, stat = Path(os.readlink(path)).name, path.stat()
        if (etag, stat.st_size, stat.st_mtime_ns) in known or len(etag) not in (40, 64):
            continue
        if not _matches(path, etag, stat.st_size):
            raise fail("hub_corrupt", path=path, blob=path.resolve())
        matched.append({"blob": etag, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns})
    append_jsonl(record, matched)


def _matches(path: Path, etag: str, size: int) -> bool:
    """Whether the file's sha256 (64-character etag) or git blob sha1 (40) is ``etag``."""
    import hashlib

    digest = hashlib.sha256() if len(etag) == 64 else hashlib.sha1(b"blob %d\0" % size)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest() == etag


def _offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)
