"""A validating, memory-mapped safetensors reader.

Our own parser (not the safetensors package) because conversion needs byte ranges to stream
tensor by tensor, and because a file from the internet must be checked before we trust its
offsets: header length inside the file, offsets in range and non-overlapping, sizes matching
dtype x shape.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeprof.errors import fail

# safetensors dtype -> (numpy dtype used to read the raw bytes, bytes per element)
DTYPES = {
    "F32": (np.float32, 4),
    "F16": (np.float16, 2),
    "BF16": (np.uint16, 2),  # read as raw 16-bit words; see to_float32
    "F64": (np.float64, 8),
    "I64": (np.int64, 8),
    "I32": (np.int32, 4),
    "I16": (np.int16, 2),
    "I8": (np.int8, 1),
    "U8": (np.uint8, 1),
    "BOOL": (np.bool_, 1),
}
MAX_HEADER = 100 * 1024 * 1024  # the safetensors format's own limit


@dataclass(frozen=True)
class TensorEntry:
    name: str
    dtype: str
    shape: tuple[int, ...]
    path: Path
    offset: int  # absolute byte offset in the file
    nbytes: int

    def array(self) -> np.ndarray:
        """The raw data, memory-mapped read-only (no copy; pages come from the file cache)."""
        np_dtype, _ = DTYPES[self.dtype]
        if self.nbytes == 0:
            return np.zeros(self.shape, dtype=np_dtype)
        return np.memmap(self.path, dtype=np_dtype, mode="r", offset=self.offset, shape=self.shape)


def read_header(path: Path) -> dict[str, TensorEntry]:
    """Parse and validate the header of one safetensors file."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise fail("safetensors_bad", path=path, detail="file shorter than its 8-byte header length")
        header_len = int.from_bytes(head, "little")
        if header_len > MAX_HEADER or 8 + header_len > size:
            raise fail("safetensors_bad", path=path,
                       detail=f"header length {header_len} runs past the end of the file ({size} bytes)")
        raw = f.read(header_len)
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise fail("safetensors_bad", path=path, detail=f"header is not JSON ({exc})") from None
    except RecursionError:  # "[[[[...": nesting deeper than Python's stack
        raise fail("safetensors_bad", path=path, detail="header JSON is nested too deeply") from None
    if not isinstance(header, dict):
        raise fail("safetensors_bad", path=path, detail="header is not a JSON object")
    header.pop("__metadata__", None)
    data_start = 8 + header_len
    entries = {name: _entry(path, name, meta, data_start, size) for name, meta in header.items()}
    _check_overlaps(path, entries)
    return entries


def _entry(path: Path, name: str, meta: object, data_start: int, size: int) -> TensorEntry:
    def bad(detail: str):
        return fail("safetensors_bad", path=path, detail=f"tensor {name!r}: {detail}")

    if not isinstance(meta, dict) or not {"dtype", "shape", "data_offsets"} <= set(meta):
        raise bad("entry lacks dtype/shape/data_offsets")
    dtype, shape, offsets = meta["dtype"], meta["shape"], meta["data_offsets"]
    if dtype not in DTYPES:
        raise bad(f"unknown dtype {dtype!r}")
    if not (isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape)):
        raise bad(f"bad shape {shape!r}")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)):
        raise bad(f"bad data_offsets {offsets!r}")
    begin, end = offsets
    if not 0 <= begin <= end or data_start + end > size:
        raise bad(f"data_offsets {offsets} lie outside the file's {size - data_start} data bytes")
    expected = math.prod(shape) * DTYPES[dtype][1]  # exact: numpy's int64 product can wrap
    if end - begin != expected:
        raise bad(f"holds {end - begin} bytes, dtype {dtype} x shape {shape} needs {expected}")
    return TensorEntry(name, dtype, tuple(shape), path, data_start + begin, end - begin)


def _check_overlaps(path: Path, entries: dict[str, TensorEntry]) -> None:
    spans = sorted((e.offset, e.offset + e.nbytes, e.name) for e in entries.values() if e.nbytes)
    for (_, end_a, name_a), (begin_b, _, name_b) in zip(spans, spans[1:]):
        if begin_b < end_a:
            raise fail("safetensors_bad", path=path, detail=f"tensors {name_a!r} and {name_b!r} overlap")


def to_float32(entry: TensorEntry, rows: slice | None = None) -> np.ndarray:
    """Rows of a floating-point tensor as float32 (bf16 widened exactly by a shift)."""
    data = entry.array()
    if rows is not None:
        data = data[rows]
    if entry.dtype == "BF16":
        return (data.astype(np.uint32) << 16).view(np.float32)
    if entry.dtype in ("F32", "F16", "F64"):
        return data.astype(np.float32)
    raise ValueError(f"{entry.name}: not a float tensor ({entry.dtype})")


def write_safetensors(path: Path, tensors: dict[str, tuple[str, np.ndarray]]) -> None:
    """Write ``{name: (dtype label, array)}`` as safetensors; BF16 arrays are passed as uint16 words.

    Used to rebuild the demo checkpoint and by the tests; streams each array straight to disk.
    """
    header: dict[str, object] = {}
    offset = 0
    for name, (dtype, array) in tensors.items():
        nbytes = int(array.nbytes)
        header[name] = {"dtype": dtype, "shape": list(array.shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)  # keep the data 8-byte aligned
    with open(path, "wb") as f:
        f.write(len(blob).to_bytes(8, "little"))
        f.write(blob)
        for _, array in tensors.values():
            f.write(np.ascontiguousarray(array).tobytes())
