"""The memory guard: where llama.cpp puts each tensor (embedding on the CPU, offloaded layers and the
output on the GPU), a CPU-only build ignoring --ngl as llama.cpp does, backend overheads measured
once per device and remembered. Estimate-vs-measured accuracy is benchmarks/memory_guard.py's job."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from edgeprof.bench import memory
from edgeprof.bench.overheads import ASSUMED, overheads_for, remember
from edgeprof.gguf_header import read_gguf_header

GPU_SYSTEM = {"gpu_offload_supported": True, "gpus": [{"name": "NVIDIA H200"}], "llama_cpp_python_version": "0.3.36"}


@pytest.fixture(scope="module")
def q8(tiny_levels):
    return tiny_levels("Q8_0")["Q8_0"]


def ggml_bytes(header, names) -> int:
    """Tensor bytes as ggml itself sizes them (not gguf-py's table, which the guard uses)."""
    from edgeprof import llamacpp

    types = llamacpp.tensor_types()
    return sum(t.n_elements // types[t.type_id][0] * types[t.type_id][1] for t in header.tensors if t.name in names)


def test_a_cpu_only_build_ignores_ngl_as_llama_cpp_does(q8):
    header = read_gguf_header(q8)
    cpu = memory.estimate(header, 1024, 512, 0, "f16", "f16", None, overheads=None)
    all_layers = memory.estimate(header, 1024, 512, -1, "f16", "f16", None, overheads=None)
    assert all_layers.vram_mb == 0 and all_layers.ram_mb == pytest.approx(cpu.ram_mb)


def test_the_guard_refuses_ngl_all_on_a_machine_without_gpu_offload(q8, tmp_path, monkeypatch):
    """Before: --ngl all counted weights and KV as VRAM, and without NVML nothing checked VRAM."""
    from edgeprof.cli import cli

    need = memory.estimate(read_gguf_header(q8), 256, 512, 0, "f16", "f16", None).ram_mb
    monkeypatch.setattr(memory, "available", lambda: (need / 2, None))
    result = CliRunner().invoke(cli, ["bench", str(q8), "-p", "8", "-n", "4", "-r", "1", "--ngl", "all", "--ctx", "256",
                                      "--results", str(tmp_path), "--no-progress"])
    assert result.exit_code == 1 and "of RAM but only" in result.output


def test_full_offload_keeps_the_embedding_on_the_cpu(q8):
    header = read_gguf_header(q8)
    names = {t.name for t in header.tensors}
    est = memory.estimate(header, 1024, 512, -1, "f16", "f16", True, overheads=ASSUMED)
    embedding = ggml_bytes(header, {"token_embd.weight"})
    tied = "output.weight" not in names  # llama.cpp then loads a copy of the embedding as the GPU's output
    on_gpu = ggml_bytes(header, names - {"token_embd.weight"}) + (embedding if tied else 0)
    assert est.weights_gpu_mb == pytest.approx(on_gpu / memory.MB)
    assert est.weights_mb == pytest.approx((on_gpu + embedding) / memory.MB)  # the CPU keeps its own
    assert est.vram_mb > est.weights_gpu_mb + ASSUMED.gpu_mb  # plus KV and the compute buffer
    # One layer offloaded: the last one, its share of the weights and of the KV cache.
    one = memory.estimate(header, 1024, 512, 1, "f16", "f16", True, overheads=ASSUMED)
    last = {n for n in names if n.startswith("blk.1.")}
    assert one.weights_gpu_mb == pytest.approx(ggml_bytes(header, last) / memory.MB)
    assert one.kv_gpu_mb == pytest.approx(est.kv_gpu_mb / 2)


def test_backend_overheads_are_assumed_until_measured_then_remembered():
    assert overheads_for({"gpu_offload_supported": False, "gpus": []}) is None
    assert overheads_for(GPU_SYSTEM) == ASSUMED
    remember(GPU_SYSTEM, gpu_mb=557.0, host_mb=204.5)
    measured = overheads_for(GPU_SYSTEM)
    assert (measured.gpu_mb, measured.host_mb) == (557.0, 204.5) and measured.source.startswith("measured")
    other = {**GPU_SYSTEM, "gpus": [{"name": "Orin (nvgpu)"}]}
    assert overheads_for(other) == ASSUMED  # per device


# --- unified memory (Jetson) ----------------------------------------------------------------------

ORIN_NANO = {"device_model": "NVIDIA Jetson Orin Nano Developer Kit", "gpu_offload_supported": True, "gpus": [],
             "os": "Linux-5.15.148-tegra-aarch64-with-glibc2.35", "machine": "aarch64",
             "llama_cpp_python_version": "0.3.36"}


def header_from_shape(name: str, type_id: int):
    """A GGUF header with a published model's shapes (quantize/shapes/NAME.json): 2-D weights of
    ``type_id``, norms in F32. The guard reads only the header, not gigabytes of weights."""
    import json
    from pathlib import Path

    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

    from edgeprof.gguf_header import GGUFHeader, TensorInfo

    cfg = json.loads((Path(__file__).resolve().parent.parent / f"quantize/shapes/{name}.json").read_text())
    d, ff, vocab = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    heads, kv_heads = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    kv = d // heads * kv_heads
    shapes = {"token_embd.weight": (d, vocab), "output_norm.weight": (d,), "output.weight": (d, vocab)}
    for i in range(cfg["num_hidden_layers"]):
        shapes |= {f"blk.{i}.attn_norm.weight": (d,), f"blk.{i}.attn_q.weight": (d, d),
                   f"blk.{i}.attn_k.weight": (d, kv), f"blk.{i}.attn_v.weight": (d, kv),
                   f"blk.{i}.attn_output.weight": (d, d), f"blk.{i}.ffn_norm.weight": (d,),
                   f"blk.{i}.ffn_gate.weight": (d, ff), f"blk.{i}.ffn_up.weight": (d, ff),
                   f"blk.{i}.ffn_down.weight": (ff, d)}
    tensors, offset = [], 0
    for tensor_name, shape in shapes.items():
        kind = type_id if len(shape) == 2 else 0
        block, block_bytes = GGML_QUANT_SIZES[GGMLQuantizationType(kind)]
        tensors.append(TensorInfo(tensor_name, shape, kind, offset))
        offset += -(-(shape[0] * (shape[1] if len(shape) == 2 else 1)) // block * block_bytes // 32) * 32
    meta = {"general.architecture": "llama", "llama.block_count": cfg["num_hidden_layers"],
            "llama.embedding_length": d, "llama.attention.head_count": heads,
            "llama.attention.head_count_kv": kv_heads, "llama.feed_forward_length": ff, "llama.vocab_size": vocab}
    return GGUFHeader(Path(f"{name}.gguf"), 3, meta, tensors, data_offset=4096, file_size=4096 + offset)


def test_a_jetson_counts_offloaded_weights_against_its_ram():
    """Orin Nano 8 GB: 7,620 MB in all, 1,343 MB in use idle (a recorded tegrastats line), so about
    6,277 MB free. An 8B Q4_K model at n_ctx 8192 passes a guard that puts its layers in "VRAM" nobody can check,
    and is refused when the board's GPU is known to share the RAM."""
    from edgeprof.bench.overheads import overheads_for
    from edgeprof.errors import EdgeprofError

    header = header_from_shape("Llama-3.1-8B", type_id=12)  # Q4_K
    overheads = overheads_for(ORIN_NANO)
    assert memory.unified_memory(ORIN_NANO) and overheads is not None
    free_ram = 7620 - 1343
    separate = memory.estimate(header, 8192, 512, -1, "f16", "f16", None, overheads, unified=False)
    shared = memory.estimate(header, 8192, 512, -1, "f16", "f16", None, overheads, unified=True)
    assert separate.ram_mb < free_ram < shared.ram_mb
    assert shared.vram_mb == 0 and shared.ram_mb == pytest.approx(separate.ram_mb + separate.vram_mb)
    import edgeprof.bench.memory as guard

    original = guard.available
    guard.available = lambda: (free_ram, None)
    try:
        guard.check_fits("llama-8b-q4_k_m.gguf", separate, gpu_offload=True, force=False)  # the old blind spot
        with pytest.raises(EdgeprofError, match="GPU and CPU share it on this board"):
            guard.check_fits("llama-8b-q4_k_m.gguf", shared, gpu_offload=True, force=False)
    finally:
        guard.available = original


def test_recorded_orin_numbers_give_the_unified_peak():
    """Orin Nano (tests/test_resources_platform.py's recorded tegrastats lines): 1,343 MB in use idle,
    6,712 MB busy. The GPU's allocations are not in the process's RSS (here 1,200 MB growth): the
    footprint is the system's growth, 5,369 MB."""
    assert memory.unified_peak_mb(1200.0, 1343.0, 6712.0) == pytest.approx(5369.0)
    assert memory.unified_peak_mb(1200.0, None, None) == 1200.0
