"""Hand-built GGUF files, byte by byte, so a test can get every field of the format wrong on purpose."""

from __future__ import annotations

import struct
from dataclasses import dataclass

F32, F16, Q8_0 = 0, 1, 8
SIZES = {F32: (1, 4), F16: (1, 2), Q8_0: (32, 34)}  # type id -> (values per block, bytes per block)


@dataclass(frozen=True)
class Tensor:
    name: str
    shape: tuple[int, ...]
    type_id: int = F32
    offset: int | None = None  # None: right after the previous tensor, aligned


@dataclass(frozen=True)
class Layout:
    version: int = 3
    metadata: tuple = (("general.architecture", "llama"),)
    tensors: tuple = (Tensor("a.weight", (32, 2)), Tensor("b.weight", (64,), F16))
    n_tensors: int | None = None  # what the header claims (default: the real count)
    n_kv: int | None = None
    alignment: int = 32


def _string(text: str | bytes) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    return struct.pack("<Q", len(raw)) + raw


def _value(value) -> bytes:
    if isinstance(value, str):
        return struct.pack("<I", 8) + _string(value)
    if isinstance(value, list):
        return struct.pack("<IIQ", 9, 8, len(value)) + b"".join(_string(v) for v in value)
    return struct.pack("<Ii", 5, value)


def tensor_bytes(t: Tensor) -> int:
    block, size = SIZES.get(t.type_id, (1, 4))
    n = 1
    for d in t.shape:
        n *= d
    return n // block * size


def build(layout: Layout = Layout()) -> bytes:
    out = b"GGUF" + struct.pack("<I", layout.version)
    out += struct.pack("<QQ", len(layout.tensors) if layout.n_tensors is None else layout.n_tensors,
                       len(layout.metadata) if layout.n_kv is None else layout.n_kv)
    for key, value in layout.metadata:
        out += _string(key) + _value(value)
    offset = data_size = 0
    for t in layout.tensors:
        at = offset if t.offset is None else t.offset
        out += _string(t.name) + struct.pack("<I", len(t.shape)) + b"".join(struct.pack("<Q", d) for d in t.shape)
        out += struct.pack("<IQ", t.type_id, at)
        offset = -(-(at + tensor_bytes(t)) // layout.alignment) * layout.alignment
        if offset < 1 << 20:  # an absurd offset gets no data behind it
            data_size = max(data_size, offset)
    out += b"\0" * (-len(out) % layout.alignment)
    return out + b"\x11" * data_size
