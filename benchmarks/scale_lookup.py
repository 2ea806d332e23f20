"""Do a quantized tensor's block scales change how fast ggml multiplies by it? (x86: yes)

x86 builds of ggml turn each fp16 block scale into a float through a 256 KiB lookup table
(``ggml_table_f32_f16``; check with ``objdump -d libggml-cpu.so`` around ggml_vec_dot_q8_0_q8_0).
Which table entries a tensor touches depends on its scale values, so two tensors of the same type
and shape can run at different speeds. This times ggml's own matrix x vector product (one decode
step's work for that tensor) for four versions of one tensor of a real GGUF, in rotated order:

    real        the tensor as converted
    synthetic   the same tensor of the synthetic twin (`edgeprof bench --synthetic`)
    real+gauss  the real quants with the scales of Gaussian random blocks (the generator before
                its scale spread was matched to trained weights)
    gauss       Gaussian random blocks, as synthetic files had them before

Types with one fp16 scale per 32 values (Q8_0, Q5_0, Q4_0) show it most.

    python benchmarks/scale_lookup.py real.gguf synthetic.gguf --tensor token_embd.weight
"""

from __future__ import annotations

import argparse
import ctypes
import statistics
import sys
import time

import numpy as np


class InitParams(ctypes.Structure):
    _fields_ = [("mem_size", ctypes.c_size_t), ("mem_buffer", ctypes.c_void_p), ("no_alloc", ctypes.c_bool)]


def ggml_functions() -> ctypes.CDLL:
    from edgeprof import llamacpp

    llamacpp.init()
    lib = llamacpp.ggml()
    signatures = {
        "ggml_init": (ctypes.c_void_p, [InitParams]),
        "ggml_free": (None, [ctypes.c_void_p]),
        "ggml_new_tensor_2d": (ctypes.c_void_p, [ctypes.c_void_p, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]),
        "ggml_get_data": (ctypes.c_void_p, [ctypes.c_void_p]),
        "ggml_mul_mat": (ctypes.c_void_p, [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]),
        "ggml_new_graph": (ctypes.c_void_p, [ctypes.c_void_p]),
        "ggml_build_forward_expand": (None, [ctypes.c_void_p, ctypes.c_void_p]),
        "ggml_graph_compute_with_ctx": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]),
    }
    for name, (restype, argtypes) in signatures.items():
        getattr(lib, name).restype, getattr(lib, name).argtypes = restype, argtypes
    return lib


class MatVec:
    """A ggml context holding one weight tensor and a vector, with the graph of their product."""

    def __init__(self, lib: ctypes.CDLL, qtype: int, rows: int, cols: int, weight: bytes, threads: int):
        self.lib, self.threads = lib, threads
        self.ctx = lib.ggml_init(InitParams(len(weight) + cols * 4 + rows * 4 + (64 << 20), None, False))
        w = lib.ggml_new_tensor_2d(self.ctx, qtype, cols, rows)
        ctypes.memmove(lib.ggml_get_data(w), weight, len(weight))
        x = lib.ggml_new_tensor_2d(self.ctx, 0, cols, 1)  # F32
        values = np.random.default_rng(0).normal(0, 1, cols).astype(np.float32)
        ctypes.memmove(lib.ggml_get_data(x), values.ctypes.data, values.nbytes)
        self.graph = lib.ggml_new_graph(self.ctx)
        lib.ggml_build_forward_expand(self.graph, lib.ggml_mul_mat(self.ctx, w, x))

    def best_of(self, n: int) -> float:
        """Fastest of n products, in microseconds."""
        best = float("inf")
        for _ in range(n):
            start = time.perf_counter()
            self.lib.ggml_graph_compute_with_ctx(self.ctx, self.graph, self.threads)
            best = min(best, time.perf_counter() - start)
        return best * 1e6


def tensor_bytes(path: str, name: str):
    import gguf

    tensor = next((t for t in gguf.GGUFReader(path).tensors if t.name == name), None)
    if tensor is None:
        sys.exit(f"{path}: no tensor named {name!r}")
    return np.asarray(tensor.data).reshape(-1).view(np.uint8), tensor


def with_scales_of(blocks: np.ndarray, donor: np.ndarray, block_bytes: int) -> bytes:
    """``blocks`` with the 2-byte fp16 scale at the start of each block taken from ``donor``."""
    mixed = blocks.reshape(-1, block_bytes).copy()
    mixed[:, :2] = donor.reshape(-1, block_bytes)[:, :2]
    return mixed.tobytes()


def gaussian_blocks(qtype: int, rows: int, cols: int) -> np.ndarray:
    from edgeprof.quantize.blocks import quantize_rows

    return quantize_rows(qtype, np.random.default_rng(1).normal(0, 0.02, (rows, cols)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("real")
    parser.add_argument("synthetic")
    parser.add_argument("--tensor", default="token_embd.weight")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--products", type=int, default=15, help="products per timing (the fastest counts)")
    a = parser.parse_args()
    import gguf

    real, info = tensor_bytes(a.real, a.tensor)
    synthetic, _ = tensor_bytes(a.synthetic, a.tensor)
    qtype = int(info.tensor_type)
    cols, rows = (int(n) for n in info.shape)
    block_bytes = gguf.GGML_QUANT_SIZES[info.tensor_type][1]
    gauss = gaussian_blocks(qtype, rows, cols)
    versions = {"real": real.tobytes(), "synthetic": synthetic.tobytes(),
                "real+gauss": with_scales_of(real, gauss, block_bytes), "gauss": gauss.tobytes()}
    lib = ggml_functions()
    products = {name: MatVec(lib, qtype, rows, cols, data, a.threads) for name, data in versions.items()}
    names = list(products)
    times: dict[str, list[float]] = {name: [] for name in names}
    for i in range(a.rounds):
        for name in names[i % len(names):] + names[:i % len(names)]:
            times[name].append(products[name].best_of(a.products))
    print(f"{a.tensor} ({info.tensor_type.name}, {cols} x {rows}), {a.threads} thread(s), {a.rounds} rounds:")
    for name in names:
        ratios = [t / r for t, r in zip(times[name], times["real"])]
        print(f"  {name:11} median {statistics.median(times[name]):8.0f} us   "
              f"time/real median {statistics.median(ratios):.3f} ({min(ratios):.2f}-{max(ratios):.2f})")


if __name__ == "__main__":
    main()
