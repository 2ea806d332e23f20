"""The memory guard: estimate what a model needs before loading it, refuse what will not fit.

Estimate = weights (the GGUF's tensor data, split between RAM and VRAM by offloaded layers)
+ KV cache (n_ctx x layers x K/V widths x cache type size) + a compute-buffer allowance
(attention scores for one ubatch without flash attention, activations, logits). It is recorded
beside the measured peak so users can see how good it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgeprof.errors import fail
from edgeprof.gguf_header import read_gguf_header

BYTES_PER_ELEMENT = {"f32": 4.0, "f16": 2.0, "bf16": 2.0, "q8_0": 34 / 32, "q5_1": 24 / 32, "q5_0": 22 / 32,
                     "q4_1": 20 / 32, "q4_0": 18 / 32, "iq4_nl": 18 / 32}
MB = 2**20


@dataclass(frozen=True)
class Estimate:
    weights_mb: float
    kv_mb: float
    compute_mb: float
    ram_mb: float
    vram_mb: float


def estimate(path: Path, n_ctx: int, n_ubatch: int, n_gpu_layers: int, type_k: str, type_v: str,
             flash_attn: bool | None) -> Estimate:
    header = read_gguf_header(path)
    meta = header.metadata
    arch = meta.get("general.architecture", "llama")
    n_layer = int(meta.get(f"{arch}.block_count", 1))
    n_embd = int(meta.get(f"{arch}.embedding_length", 0))
    n_head = int(meta.get(f"{arch}.attention.head_count", 1))
    n_head_kv = int(meta.get(f"{arch}.attention.head_count_kv", n_head))
    head_k = int(meta.get(f"{arch}.attention.key_length", n_embd // max(1, n_head)))
    head_v = int(meta.get(f"{arch}.attention.value_length", head_k))
    n_ff = int(meta.get(f"{arch}.feed_forward_length", 4 * n_embd))
    n_vocab = len(meta.get("tokenizer.ggml.tokens", [])) or int(meta.get(f"{arch}.vocab_size", 32000))
    weights = header.data_bytes
    kv = n_ctx * n_layer * n_head_kv * (head_k * BYTES_PER_ELEMENT[type_k] + head_v * BYTES_PER_ELEMENT[type_v])
    scores = 0 if flash_attn else n_ubatch * n_ctx * n_head * 4
    compute = scores + n_ubatch * (6 * n_embd + 3 * n_ff) * 4 + n_vocab * 4 * 2
    offloaded = 1.0 if n_gpu_layers < 0 else min(n_gpu_layers, n_layer) / n_layer
    vram = weights * offloaded + kv * offloaded + (compute if offloaded else 0)
    ram = weights * (1 - offloaded) + kv * (1 - offloaded) + compute
    return Estimate(weights / MB, kv / MB, compute / MB, ram / MB, vram / MB)


def available() -> tuple[float, float | None]:
    """(free RAM MB, free VRAM MB on GPU 0 or None without NVML)."""
    import psutil

    ram = psutil.virtual_memory().available / MB
    try:
        import pynvml

        pynvml.nvmlInit()
        vram = pynvml.nvmlDeviceGetMemoryInfo(pynvml.nvmlDeviceGetHandleByIndex(0)).free / MB
    except Exception:  # noqa: BLE001 - no NVIDIA GPU here
        vram = None
    return ram, vram


def check_fits(path: Path, est: Estimate, gpu_offload: bool, force: bool) -> None:
    if force:
        return
    ram, vram = available()
    if est.ram_mb > ram:
        raise fail("wont_fit", path=path, need=f"{est.ram_mb:.0f} MB of RAM", have=f"{ram:.0f} MB",
                   what=f"weights {est.weights_mb:.0f} MB, KV cache {est.kv_mb:.0f} MB, compute {est.compute_mb:.0f} MB")
    if gpu_offload and vram is not None and est.vram_mb > vram:
        raise fail("wont_fit", path=path, need=f"{est.vram_mb:.0f} MB of GPU memory", have=f"{vram:.0f} MB",
                   what=f"weights {est.weights_mb:.0f} MB, KV cache {est.kv_mb:.0f} MB")
