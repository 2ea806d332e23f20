"""Random but valid quantized blocks of any llama.cpp type, for synthetic models.

llama.cpp's own ``ggml_quantize_chunk`` quantizes a small pool of random rows once per type; a
tensor is then filled with blocks drawn at random from that pool. Every block therefore has
valid scales (no NaN/Inf, no denormal surprises) and the file is written at its final size with
no full-precision copy anywhere."""

from __future__ import annotations

from functools import lru_cache
from typing import Iterator

import numpy as np

from edgeprof import llamacpp

POOL_ROWS = 64
ROW = 256 * 4  # values per pool row: a multiple of every block size (32, 256)
CHUNK_BLOCKS = 1 << 20  # blocks written at a time


@lru_cache(maxsize=None)
def block_pool(qtype: int, seed: int = 0) -> np.ndarray:
    """``POOL_ROWS * ROW / block_size`` valid blocks of type ``qtype``, one per row of the result."""
    import gguf

    block_size, type_size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType(qtype)]
    values = np.random.default_rng(seed).normal(0, 0.02, (POOL_ROWS, ROW)).astype(np.float32)
    out = np.zeros(POOL_ROWS * ROW // block_size * type_size, dtype=np.uint8)
    ggml = llamacpp.ggml()
    ggml.ggml_quantize_init(qtype)
    written = ggml.ggml_quantize_chunk(qtype, values.ctypes.data, out.ctypes.data, 0, POOL_ROWS, ROW, None)
    assert written == out.size, (written, out.size)
    return out.reshape(-1, type_size)


def random_blocks(qtype: int, n_elements: int, rng: np.random.Generator) -> Iterator[bytes]:
    """The bytes of a tensor of ``n_elements`` values of quantized type ``qtype``, in chunks."""
    import gguf

    block_size, _ = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType(qtype)]
    pool = block_pool(qtype)
    remaining = n_elements // block_size
    while remaining:
        n = min(remaining, CHUNK_BLOCKS)
        yield pool[rng.integers(0, len(pool), n)].tobytes()
        remaining -= n


def random_floats(dtype: np.dtype, shape: tuple[int, ...], rng: np.random.Generator, norm: bool) -> Iterator[bytes]:
    """F32/F16 tensors: norms at 1 (as trained models have them, keeping activations in range),
    other weights small and normal, in row chunks."""
    rows = shape[0] if len(shape) > 1 else 1
    per_row = int(np.prod(shape[1:])) if len(shape) > 1 else shape[0]
    step = max(1, (1 << 24) // per_row)
    for start in range(0, rows, step):
        n = min(step, rows - start)
        block = np.ones((n, per_row)) if norm else rng.normal(0, 0.02, (n, per_row))
        yield block.astype(dtype).tobytes()
