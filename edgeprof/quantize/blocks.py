"""Random but valid quantized blocks of any llama.cpp type, for synthetic models.

llama.cpp's own ``ggml_quantize_chunk`` quantizes a small pool of random rows once per type; a
tensor is then filled with blocks drawn at random from that pool. Every block therefore has
valid scales (no NaN/Inf, no denormal surprises) and the file is written at its final size with
no full-precision copy anywhere.

The spread of the block scales is matched to trained weights, not left Gaussian, because x86 ggml
turns each fp16 block scale into a float through a 256 KiB lookup table (``ggml_table_f32_f16``;
ARM and CUDA convert in hardware): the more distinct scales a tensor has, the more cache lines
that table costs while the weights stream past. Gaussian blocks have a log2 scale spread of 0.27
inside a tensor and none between tensors; trained weights have more (``SCALE_SPREAD``). In ggml's
own product on an AMD EPYC VM, Gaussian blocks ran 26% faster than the demo model's output
projection of the same type and shape, and so did its own quants with Gaussian scales put in:
the scales alone did it (``benchmarks/scale_lookup.py``). Magnitudes stay small (std 0.02) so
random activations stay finite in fp16 caches."""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache

import numpy as np

from edgeprof import llamacpp

POOL_ROWS = 256
ROW = 256 * 4  # values per pool row: a multiple of every block size (32, 256)
GROUP = 32  # values sharing one spread factor: the smallest block of any type
GAUSSIAN_SPREAD = 0.27  # log2 std of the scales of Gaussian 32-value blocks, before any factor
# log2 std of the Q8_0 block scales inside one tensor, by role, measured on the demo model
# (SmolLM2-135M-Instruct): embeddings and query/key projections spread most, as trained weights do.
SCALE_SPREAD = {"token_embd": 0.60, "output": 0.60, "attn_q": 0.64, "attn_k": 0.56, "attn_output": 0.50,
                "attn_v": 0.37, "ffn_gate": 0.38, "ffn_up": 0.33, "ffn_down": 0.36}
DEFAULT_SPREAD = 0.46  # the demo model's mean over all its tensors, for roles not listed
TENSOR_SPREAD = 0.22  # log2 std of a factor per tensor: the demo model's spread between tensors
TENSOR_STEP = 0.1  # per-tensor factors are rounded to this many octaves, so few pools are built
CHUNK_BLOCKS = 1 << 20  # blocks written at a time


def spread_of(tensor_name: str) -> float:
    """The log2 scale spread wanted for a tensor, by its role (``blk.3.attn_q.weight`` -> attn_q)."""
    role = tensor_name.removesuffix(".weight").split(".")[-1]
    return SCALE_SPREAD.get(role, DEFAULT_SPREAD)


@lru_cache(maxsize=32)  # one per (type, level, role) in use: a few MB
def block_pool(qtype: int, octaves: int = 0, spread: float = DEFAULT_SPREAD, seed: int = 0) -> np.ndarray:
    """``POOL_ROWS * ROW / block_size`` valid blocks of type ``qtype``, one per row of the result,
    of values scaled by ``2 ** (octaves * TENSOR_STEP)``, whose 32-value groups' scales have a log2
    standard deviation of ``spread``."""
    import gguf

    type_size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType(qtype)][1]
    rng = np.random.default_rng(seed)
    extra = max(spread ** 2 - GAUSSIAN_SPREAD ** 2, 0.0) ** 0.5  # on top of the Gaussian group's own
    factor = 2.0 ** (rng.normal(octaves * TENSOR_STEP, extra, (POOL_ROWS, ROW // GROUP, 1)))
    values = (rng.normal(0, 0.02, (POOL_ROWS, ROW // GROUP, GROUP)) * factor).reshape(POOL_ROWS, ROW)
    return quantize_rows(qtype, values).reshape(-1, type_size)


def quantize_rows(qtype: int, values: np.ndarray) -> np.ndarray:
    """The rows of ``values`` quantized to ``qtype`` by ggml itself, as bytes."""
    import gguf

    block_size, type_size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType(qtype)]
    values = np.ascontiguousarray(values, dtype=np.float32)
    rows, cols = values.shape
    out = np.zeros(rows * cols // block_size * type_size, dtype=np.uint8)
    ggml = llamacpp.ggml()
    ggml.ggml_quantize_init(qtype)
    written = ggml.ggml_quantize_chunk(qtype, values.ctypes.data, out.ctypes.data, 0, rows, cols, None)
    assert written == out.size, (written, out.size)
    return out


def random_blocks(qtype: int, n_elements: int, rng: np.random.Generator,
                  spread: float = DEFAULT_SPREAD) -> Iterator[bytes]:
    """The bytes of a tensor of ``n_elements`` values of quantized type ``qtype``, in chunks, with
    block scales spread by ``spread`` (log2 std) around a level drawn for the tensor."""
    import gguf

    block_size, _ = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType(qtype)]
    pool = block_pool(qtype, int(round(rng.normal(0, TENSOR_SPREAD) / TENSOR_STEP)), spread)
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
