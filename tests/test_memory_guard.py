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
