"""The memory guard: estimate what a model needs before loading it, refuse what will not fit.

RAM (growth of this process's resident memory) = weights kept on the CPU (the token embedding
always; layers not offloaded) + their KV cache + the compute memory a bench touches (one ubatch's
activations and attention mask; the logits of one token) + the GPU backend's own host memory.
VRAM (this process's GPU memory) = offloaded layers (and the output layer when every layer is
offloaded) + their KV cache + the GPU compute buffer, which llama.cpp allocates for the worst
ubatch (logits of every token of it, attention scores when flash attention is off) + the backend's
own overhead (CUDA context, cuBLAS workspace). The overheads are measured on each device the first
time it offloads (``overheads.py``) and an assumed value is used, and said, until then.

Measured on the H200 device (1B and 360M Q4_K_M, n_ctx 1024 and 8192, full offload; README): RAM
and VRAM within 4% once the device's overheads are known.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from edgeprof.errors import fail
from edgeprof.gguf_header import GGUFHeader

MB = 2**20
_LAYER = re.compile(r"^blk\.(\d+)\.")


@dataclass(frozen=True)
class Overheads:
    """What a GPU backend costs beyond the model's own buffers, and where the figures came from."""
    gpu_mb: float = field(metadata={"help": "GPU memory of the backend itself (CUDA context, workspaces)"})
    host_mb: float = field(metadata={"help": "host memory the backend's libraries and pinned buffers add"})
    source: str = field(metadata={"help": "'measured on this device <date>' or 'assumed (...)'"})


@dataclass(frozen=True)
class Estimate:
    weights_mb: float
    kv_mb: float
    compute_mb: float  # the larger of the GPU buffer and the touched CPU memory
    ram_mb: float
    vram_mb: float
    weights_gpu_mb: float = 0.0
    kv_gpu_mb: float = 0.0
    compute_gpu_mb: float = 0.0
    overheads: Overheads | None = None
    unified: bool = False  # GPU allocations counted in ram_mb: the board's GPU has no memory of its own


@dataclass(frozen=True)
class ModelShape:
    n_layer: int
    n_embd: int
    n_head: int
    n_head_kv: int
    head_k: int
    head_v: int
    n_ff: int
    n_vocab: int


def model_shape(header: GGUFHeader) -> ModelShape:
    from gguf import Keys

    meta = header.metadata
    arch = meta.get(Keys.General.ARCHITECTURE, "llama")

    def number(key: str, default: int) -> int:
        return int(meta.get(key.format(arch=arch), default))

    n_embd = number(Keys.LLM.EMBEDDING_LENGTH, 0)
    n_head = number(Keys.Attention.HEAD_COUNT, 1)
    head_k = number(Keys.Attention.KEY_LENGTH, n_embd // max(1, n_head))
    return ModelShape(n_layer=max(1, number(Keys.LLM.BLOCK_COUNT, 1)), n_embd=n_embd, n_head=n_head,
                  n_head_kv=number(Keys.Attention.HEAD_COUNT_KV, n_head), head_k=head_k,
                  head_v=number(Keys.Attention.VALUE_LENGTH, head_k),
                  n_ff=number(Keys.LLM.FEED_FORWARD_LENGTH, 4 * n_embd),
                  n_vocab=len(meta.get(Keys.Tokenizer.LIST, [])) or number(Keys.LLM.VOCAB_SIZE, 32000))


def tensor_bytes(header: GGUFHeader) -> dict[str, int]:
    """Bytes of each tensor's data, from gguf-py's type sizes (a type it does not know: by the
    file's average bytes per value)."""
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

    average = header.data_bytes / max(1, header.n_params)
    out = {}
    for t in header.tensors:
        try:
            block, block_bytes = GGML_QUANT_SIZES[GGMLQuantizationType(t.type_id)]
            out[t.name] = t.n_elements // block * block_bytes
        except (ValueError, KeyError):
            out[t.name] = int(t.n_elements * average)
    return out


def _split_weights(header: GGUFHeader, offloaded: set[int], output_offloaded: bool) -> tuple[int, int]:
    """(bytes on the CPU, bytes on the GPU). llama.cpp keeps the token embedding on the CPU; with
    tied embeddings an offloaded output layer is a second copy of it on the GPU."""
    sizes = tensor_bytes(header)
    cpu = gpu = 0
    for name, size in sizes.items():
        layer = _LAYER.match(name)
        on_gpu = (int(layer.group(1)) in offloaded) if layer else (output_offloaded and name.startswith("output"))
        if on_gpu:
            gpu += size
        else:
            cpu += size
    if output_offloaded and "output.weight" not in sizes:
        gpu += sizes.get("token_embd.weight", 0)
    return cpu, gpu


def estimate(header: GGUFHeader, n_ctx: int, n_ubatch: int, n_gpu_layers: int, type_k: str, type_v: str,
             flash_attn: bool | None, overheads: Overheads | None = None, unified: bool = False) -> Estimate:
    """``overheads`` None: no GPU backend can take layers here (a CPU build, no device), so
    ``n_gpu_layers`` is ignored, as llama.cpp ignores it. ``unified``: the GPU's memory is the system
    RAM (Jetson, Apple silicon): everything offloaded is counted against RAM, and there is no VRAM."""
    from edgeprof.bench.cache_types import bytes_per_element

    s = model_shape(header)
    ngl = 0 if overheads is None else (s.n_layer + 1 if n_gpu_layers < 0 else n_gpu_layers)
    offloaded = set(range(max(0, s.n_layer - ngl), s.n_layer))  # llama.cpp offloads the last layers
    output_offloaded = ngl > s.n_layer
    weights_cpu, weights_gpu = _split_weights(header, offloaded, output_offloaded)
    kv_layer = n_ctx * s.n_head_kv * (s.head_k * bytes_per_element(type_k) + s.head_v * bytes_per_element(type_v))
    kv_gpu = kv_layer * len(offloaded)
    kv_cpu = kv_layer * (s.n_layer - len(offloaded))
    scores = 0 if flash_attn in (None, True) else n_ubatch * n_ctx * s.n_head * 4  # auto: on where supported
    # What a bench touches on the CPU: one ubatch's activations, the attention mask, one token's logits,
    # and ~24 MB of graph, allocator and vocabulary structures (measured: 12-29 MB on two machines).
    compute_cpu = 24 * MB + n_ubatch * s.n_embd * 16 + n_ctx * n_ubatch * 2 + s.n_vocab * 4 + scores
    # What llama.cpp allocates on the GPU: the worst ubatch, every token's logits included.
    # With a GPU backend present it is started, and big batches are computed there, even at --ngl 0
    # (llama.cpp's op offload): its context, compute buffer and host share count whatever the layers.
    gpu = overheads is not None
    compute_gpu = (n_ubatch * s.n_vocab * 4 + n_ubatch * (6 * s.n_embd + 3 * s.n_ff) * 4 + scores) if gpu else 0
    host = overheads.host_mb * MB if gpu else 0
    device = overheads.gpu_mb * MB if gpu else 0
    ram = weights_cpu + kv_cpu + compute_cpu + host
    vram = weights_gpu + kv_gpu + compute_gpu + device
    if unified:
        ram, vram = ram + vram, 0
    return Estimate((weights_cpu + weights_gpu) / MB, (kv_cpu + kv_gpu) / MB, max(compute_cpu, compute_gpu) / MB,
                    ram / MB, vram / MB, weights_gpu / MB, kv_gpu / MB, compute_gpu / MB, overheads, unified)


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
        shared = " (GPU and CPU share it on this board)" if est.unified else ""
        raise fail("wont_fit", path=path, need=f"{est.ram_mb:.0f} MB of RAM{shared}", have=f"{ram:.0f} MB",
                   what=f"weights {est.weights_mb:.0f} MB, KV cache {est.kv_mb:.0f} MB, "
                        f"compute {est.compute_mb:.0f} MB")
    if gpu_offload and vram is not None and est.vram_mb > vram:
        raise fail("wont_fit", path=path, need=f"{est.vram_mb:.0f} MB of GPU memory", have=f"{vram:.0f} MB",
                   what=f"weights {est.weights_gpu_mb:.0f} MB, KV cache {est.kv_gpu_mb:.0f} MB, "
                        f"compute {est.compute_gpu_mb:.0f} MB, backend {_backend_mb(est):.0f} MB")


def _backend_mb(est: Estimate) -> float:
    return est.overheads.gpu_mb if est.overheads else 0.0


def unified_memory(system: dict) -> bool:
    """Whether this device's GPU allocates from system RAM: NVIDIA's Tegra boards (Jetson Nano, TX2,
    Xavier, Orin, Thor: /proc/device-tree/model names them) and Apple silicon."""
    model = (system.get("device_model") or "").lower()
    if any(word in model for word in ("jetson", "tegra", " orin", " thor", "xavier")):
        return True
    return str(system.get("os", "")).startswith("macOS") and system.get("machine") == "arm64"


def unified_peak_mb(rss_growth_mb: float | None, system_used_before_mb: float | None,
                    system_used_peak_mb: float | None) -> float | None:
    """The model's measured footprint on a unified-memory board: the larger of the process's RSS growth
    and the system RAM used above the pre-load baseline (GPU allocations, nvmap on a Jetson, are
    not in the process's RSS)."""
    system = (system_used_peak_mb - system_used_before_mb
              if system_used_peak_mb is not None and system_used_before_mb is not None else None)
    candidates = [v for v in (rss_growth_mb, system) if v is not None]
    return max(candidates) if candidates else None
