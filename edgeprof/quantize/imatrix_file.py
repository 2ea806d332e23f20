"""Importance-matrix files in llama.cpp's GGUF imatrix format (what llama-imatrix writes and
llama-quantize reads): per weight ``<name>.in_sum2`` (sum of squared activations, F32, one row per
expert) and ``<name>.counts`` (activations seen per expert, F32), plus ``imatrix.datasets``,
``imatrix.chunk_count`` and ``imatrix.chunk_size``; ``general.type`` is ``imatrix``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeprof.errors import fail

DATASETS, CHUNK_COUNT, CHUNK_SIZE = "imatrix.datasets", "imatrix.chunk_count", "imatrix.chunk_size"
SUMS, COUNTS = ".in_sum2", ".counts"


@dataclass(frozen=True)
class Collected:
    """Raw sums per weight name: ``sums`` is (n_mat, n_in) float32, ``counts`` (n_mat,) int64."""

    sums: dict[str, np.ndarray]
    counts: dict[str, np.ndarray]
    datasets: tuple[str, ...]
    chunk_count: int
    chunk_size: int


def write_imatrix(data: Collected, dest: Path) -> None:
    """Write ``data`` as llama-imatrix does (entries sorted by name, all F32)."""
    import gguf

    writer = gguf.GGUFWriter(dest, arch="imatrix")
    writer.kv_data[0].pop(gguf.Keys.General.ARCHITECTURE, None)  # llama-imatrix writes no architecture
    writer.add_type("imatrix")
    writer.add_array(DATASETS, list(data.datasets))
    writer.add_uint32(CHUNK_COUNT, data.chunk_count)
    writer.add_uint32(CHUNK_SIZE, data.chunk_size)
    for name in sorted(data.sums):
        sums = np.ascontiguousarray(data.sums[name], dtype=np.float32)
        writer.add_tensor(name + SUMS, sums)
        writer.add_tensor(name + COUNTS, data.counts[name].astype(np.float32).reshape(-1, 1))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


@dataclass(frozen=True)
class Imatrix:
    """A matrix ready for quantization: per weight the mean squared activation (sums / count, 1 where
    an expert saw nothing), as llama-quantize's loader computes it."""

    path: Path
    values: dict[str, np.ndarray]
    datasets: tuple[str, ...]
    chunk_count: int


def read_imatrix(path: Path) -> Imatrix:
    """Read a GGUF imatrix file; a file that is not one is refused with one line."""
    import gguf

    try:
        reader = gguf.GGUFReader(path)
    except (OSError, ValueError) as exc:
        raise fail("imatrix_unreadable", path=path, detail=exc) from None
    fields = reader.fields
    if DATASETS not in fields or CHUNK_COUNT not in fields or CHUNK_SIZE not in fields:
        raise fail("imatrix_unreadable", path=path, detail="no imatrix metadata (imatrix.datasets, ...)")
    tensors = {t.name: t for t in reader.tensors}
    values = {}
    for full in tensors:
        if not full.endswith(SUMS):
            continue
        name = full.removesuffix(SUMS)
        if name + COUNTS not in tensors:
            raise fail("imatrix_unreadable", path=path, detail=f"{name} has sums but no counts")
        values[name] = _mean(np.asarray(tensors[full].data, dtype=np.float32),
                             np.asarray(tensors[name + COUNTS].data, dtype=np.float32))
    if not values:
        raise fail("imatrix_unreadable", path=path, detail="no entries")
    datasets = tuple(fields[DATASETS].contents())
    return Imatrix(path, values, datasets, int(fields[CHUNK_COUNT].contents()))


def _mean(sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per expert row: sums / round(count), or 1 where the count is 0 (llama-quantize's rule)."""
    n_mat = counts.size
    sums = sums.reshape(n_mat, -1)
    count = np.rint(counts.reshape(n_mat, 1)).astype(np.float32)  # lround of values that are integers
    safe = np.where(count > 0, count, np.float32(1))
    return np.where(count > 0, sums / safe, np.float32(1)).astype(np.float32).reshape(-1)
