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
from edgeprof.gguf_header import GGUFHeader

MB = 2**20


@dataclass(frozen=True)
class Estimate:
    weights_mb: float
    kv_mb: float
    compute_mb: float
    ram_mb: float
    vram_mb: float


def estimate(header: GGUFHeader, n_ctx: int, n_ubatch: int, n_gpu_layers: int, type_k: str, type_v: str,
             flash_attn: bool | None) -> Estimate:
    from gguf import Keys

    from edgeprof.bench.cache_types import bytes_per_element

    meta = header.metadata
    arch = meta.get(Keys.General.ARCHITECTURE, "llama")

    def number(key: str, default: int) -> int:
        return int(meta.get(key.format(arch=arch), default))

    n_layer = number(Keys.LLM.BLOCK_COUNT, 1)
    n_embd = number(Keys.LLM.EMBEDDING_LENGTH, 0)
    n_head = number(Keys.Attention.HEAD_COUNT, 1)
    n_head_kv = number(Keys.Attention.HEAD_COUNT_KV, n_head)
    head_k = number(Keys.Attention.KEY_LENGTH, n_embd // max(1, n_head))
    head_v = number(Keys.Attention.VALUE_LENGTH, head_k)
    n_ff = number(Keys.LLM.FEED_FORWARD_LENGTH, 4 * n_embd)
    n_vocab = len(meta.get(Keys.Tokenizer.LIST, [])) or number(Keys.LLM.VOCAB_SIZE, 32000)
    weights = header.data_bytes
    kv = n_ctx * n_layer * n_head_kv * (head_k * bytes_per_element(type_k) + head_v * bytes_per_element(type_v))
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
                   what=f"weights {est.weights_mb:.0f} MB, KV cache {est.kv_mb:.0f} MB, "
                        f"compute {est.compute_mb:.0f} MB")
    if gpu_offload and vram is not None and est.vram_mb > vram:
        raise fail("wont_fit", path=path, need=f"{est.vram_mb:.0f} MB of GPU memory", have=f"{vram:.0f} MB",
                   what=f"weights {est.weights_mb:.0f} MB, KV cache {est.kv_mb:.0f} MB")
