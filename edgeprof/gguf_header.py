"""A small, bounded GGUF header reader: metadata and tensor infos, nothing loaded.

Our own rather than gguf-py's GGUFReader because (1) it must read files from llama.cpp builds
newer than gguf-py (unknown tensor types are kept as numbers, not rejected), and (2) every count
and length in a file from the internet is checked against the file's size before it is trusted.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from edgeprof.errors import fail

MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
DEFAULT_ALIGNMENT = 32
MAX_DIMS = 8
# value type id -> struct format, for the fixed-size scalar types
_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_STRING, _ARRAY = 8, 9


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]  # GGUF order: ne[0] (the row length) first
    type_id: int
    offset: int  # relative to the data section

    @property
    def n_elements(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


@dataclass(frozen=True)
class GGUFHeader:
    path: Path
    version: int
    metadata: dict[str, Any]
    tensors: list[TensorInfo]
    data_offset: int
    file_size: int = field(default=0)

    @property
    def n_params(self) -> int:
        return sum(t.n_elements for t in self.tensors)

    @property
    def data_bytes(self) -> int:
        return self.file_size - self.data_offset

    @property
    def bits_per_weight(self) -> float:
        return 8 * self.data_bytes / self.n_params if self.n_params else 0.0


class _Reader:
    def __init__(self, f: BinaryIO, path: Path, size: int):
        self.f, self.path, self.size = f, path, size

    def bad(self, detail: str):
        return fail("gguf_unreadable", path=self.path, detail=detail)

    def take(self, n: int) -> bytes:
        if n < 0 or self.f.tell() + n > self.size:
            raise self.bad(f"truncated header (needs {n} bytes at offset {self.f.tell()}, file has {self.size})")
        return self.f.read(n)

    def unpack(self, fmt: str) -> Any:
        fmt = "<" + fmt
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        raw = self.take(self.unpack("Q"))
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return raw.decode("utf-8", errors="replace")

    def value(self, vtype: int, depth: int = 0) -> Any:
        if vtype in _SCALARS:
            return self.unpack(_SCALARS[vtype])
        if vtype == _STRING:
            return self.string()
        if vtype == _ARRAY and depth == 0:
            item_type, count = self.unpack("I"), self.unpack("Q")
            if count > self.size:  # every item takes at least one byte
                raise self.bad(f"array of {count} items is larger than the file")
            if item_type in _SCALARS:
                fmt = _SCALARS[item_type]
                return list(struct.unpack(f"<{count}{fmt}", self.take(count * struct.calcsize(fmt))))
            return [self.value(item_type, depth + 1) for _ in range(count)]
        raise self.bad(f"unknown metadata value type {vtype}")


def read_gguf_header(path: Path) -> GGUFHeader:
    path = Path(path)
    if path.is_dir():
        raise fail("is_directory", path=path)
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        r = _Reader(f, path, size)
        if f.read(4) != MAGIC:
            raise r.bad("wrong magic (not a GGUF file)")
        version = r.unpack("I")
        if version not in SUPPORTED_VERSIONS:
            raise r.bad(f"unsupported GGUF version {version}")
        n_tensors, n_kv = r.unpack("Q"), r.unpack("Q")
        if n_tensors > size // 24 or n_kv > size // 12:  # smallest possible entries
            raise r.bad(f"header claims {n_tensors} tensors and {n_kv} metadata keys, more than the file can hold")
        metadata = {}
        for _ in range(n_kv):
            key = r.string()
            metadata[key] = r.value(r.unpack("I"))
        tensors = [_tensor_info(r) for _ in range(n_tensors)]
        alignment = int(metadata.get("general.alignment", DEFAULT_ALIGNMENT)) or DEFAULT_ALIGNMENT
        data_offset = -(-f.tell() // alignment) * alignment
    header = GGUFHeader(path, version, metadata, tensors, data_offset, size)
    for t in tensors:
        if data_offset + t.offset > size:
            raise r.bad(f"tensor {t.name!r} starts past the end of the file (truncated tensor data)")
    return header


def _tensor_info(r: _Reader) -> TensorInfo:
    name = r.string()
    n_dims = r.unpack("I")
    if n_dims > MAX_DIMS:
        raise r.bad(f"tensor {name!r} has {n_dims} dimensions")
    shape = tuple(r.unpack("Q") for _ in range(n_dims))
    type_id, offset = r.unpack("I"), r.unpack("Q")
    return TensorInfo(name, shape, type_id, offset)
