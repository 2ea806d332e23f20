"""Helpers for tests that damage safetensors files: read and rewrite the JSON header in place."""

from __future__ import annotations

import json
from pathlib import Path


def read_header(path: Path) -> tuple[dict, bytes]:
    """The file's JSON header and the data bytes after it."""
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    return json.loads(raw[8:8 + n]), raw[8 + n:]


def rewrite(path: Path, header: dict, data: bytes) -> None:
    """Write ``header`` (length prefix recomputed) followed by ``data``."""
    blob = json.dumps(header).encode()
    path.write_bytes(len(blob).to_bytes(8, "little") + blob + data)
