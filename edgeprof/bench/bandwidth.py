"""How close decode is to what the memory allows. Decode reads every weight once per token (all but
the token embedding, of which it reads one row) and the KV cache up to the current depth, so
t/s x bytes per token is the bandwidth a cell achieved; a short multi-threaded read probe of this
machine's RAM gives what it has. The ratio says how much faster a level could decode here at all.
"""

from __future__ import annotations

import threading
import time

from edgeprof.gguf_header import GGUFHeader


def probe_gbs(threads: int, megabytes_per_thread: int = 64, seconds: float = 0.3) -> float:
    """RAM read bandwidth in GB/s: ``threads`` threads each OR-reducing its own buffer (larger than
    any cache) for ``seconds``; numpy drops the GIL inside the reduction."""
    import numpy as np

    buffers = [np.ones(megabytes_per_thread * 2**20 // 8, dtype=np.uint64) for _ in range(threads)]
    passes = [0] * threads
    for buffer in buffers:
        np.bitwise_or.reduce(buffer)  # pages touched before the clock starts
    deadline = time.perf_counter() + seconds

    def read(i: int) -> None:
        while time.perf_counter() < deadline:
            np.bitwise_or.reduce(buffers[i])
            passes[i] += 1

    workers = [threading.Thread(target=read, args=(i,)) for i in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(passes) * megabytes_per_thread * 2**20 / (time.perf_counter() - started) / 1e9


def bytes_per_token(header: GGUFHeader, n_kv: float, type_k: str, type_v: str) -> float:
    """Bytes one decode step reads: the weights (one embedding row) and ``n_kv`` cached tokens' K and V."""
    from edgeprof.bench.memory import model_shape, tensor_bytes

    sizes = tensor_bytes(header)
    s = model_shape(header)
    embedding = sizes.get("token_embd.weight", 0)
    weights = sum(sizes.values()) - embedding + embedding / max(1, s.n_vocab)
    return weights + kv_bytes(header, n_kv, type_k, type_v)


def kv_bytes(header: GGUFHeader, n_kv: float, type_k: str, type_v: str) -> float:
    """Bytes of ``n_kv`` cached tokens' K and V, every layer."""
    from edgeprof.bench.cache_types import bytes_per_element
    from edgeprof.bench.memory import model_shape

    s = model_shape(header)
    per_head = s.head_k * bytes_per_element(type_k) + s.head_v * bytes_per_element(type_v)
    return n_kv * s.n_layer * s.n_head_kv * per_head


def roofline(header: GGUFHeader, settings: dict, tg_tps: float | None, bandwidth_gbs: float | None) -> dict:
    """For a row: bytes one decode step reads at the cell's mean depth, achieved GB/s, % of the probe.
    Parallel sequences share a step: the weights are read once for all of them, each its own KV, and
    ``tg_tps`` (every sequence's tokens) counts ``n_parallel`` tokens per step."""
    if not tg_tps or not bandwidth_gbs:
        return {}
    n_seq = settings.get("n_parallel", 1)
    depth = settings.get("n_depth", 0) + settings.get("n_prompt", 0) + settings.get("n_gen", 0) / 2
    type_k, type_v = settings.get("type_k", "f16"), settings.get("type_v", "f16")
    per_step = bytes_per_token(header, 0, type_k, type_v) + n_seq * kv_bytes(header, depth, type_k, type_v)
    achieved = per_step * tg_tps / n_seq / 1e9
    return {"bytes_per_token": round(per_step / n_seq), "bytes_per_step": round(per_step),
            "achieved_gbs": round(achieved, 2), "bandwidth_gbs": round(bandwidth_gbs, 2),
            "percent_of_bandwidth": round(100 * achieved / bandwidth_gbs, 1)}
