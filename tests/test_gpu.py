"""GPU offload, on a CUDA build of llama.cpp with an NVIDIA GPU (the device machine).

Skipped cleanly where llama.cpp has no GPU backend or NVML sees no GPU (CI). Run there with
``pytest -m gpu``.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from tiny import TinySpec

from edgeprof.results.store import ResultStore


def _gpu_ready() -> bool:
    try:
        import llama_cpp

        from edgeprof.bench.resources.nvml import NvmlSensor

        return bool(llama_cpp.llama_supports_gpu_offload()) and NvmlSensor.detect() is not None
    except Exception:  # noqa: BLE001
        return False


pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not _gpu_ready(), reason="needs a CUDA build of llama.cpp and an NVIDIA GPU")]

# Big enough that the GPU matters (~0.4B parameters), small enough to build in seconds.
GPU_SPEC = TinySpec(hidden=1024, layers=16, heads=16, kv_heads=4, ffn=2816, tied=True, seed=3)


@pytest.fixture(scope="module")
def gpu_model(tiny_factory, tmp_path_factory):
    from edgeprof.quantize.pipeline import ConvertOptions, convert

    _, _, f16 = tiny_factory(GPU_SPEC)
    out = tmp_path_factory.mktemp("gpu")
    rows = convert(str(f16), ConvertOptions(levels=("Q4_K_M",), out_dir=out, progress=False), say=lambda _: None)
    return rows[1].path


def test_decode_speed_rises_with_offloaded_layers_and_nvml_is_live(gpu_model, tmp_path):
    # A fresh process, as users run it: measured on the H100, a CUDA libllama segfaults while
    # loading a model in a process where other thread pools (numpy's OpenBLAS, the tokenizer
    # trainer's) started before it, as they do in this test session.
    result = subprocess.run([sys.executable, "-m", "edgeprof", "bench", str(gpu_model), "--ngl", "0,8,all",
                             "-p", "256", "-n", "64", "-r", "3", "--results", str(tmp_path), "--no-progress"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    print(result.stdout)
    rows = {r["settings"]["n_gpu_layers"]: r for r in ResultStore(tmp_path).rows()}
    tg = {ngl: rows[ngl]["metrics"]["tg_tps_mean"] for ngl in (0, 8, -1)}
    assert tg[0] < tg[8] < tg[-1], tg
    full = rows[-1]
    decode = full["resources"]["decode"]
    assert decode["gpu_util_percent_mean"] > 0
    assert decode["gpu_mem_used_mb_max"] > rows[0]["resources"]["decode"]["gpu_mem_used_mb_max"]
    assert decode.get("gpu_power_w_mean", 0) > 0
    assert full["memory"]["estimate_vram_mb"] > 0 and full["memory"]["peak_gpu_mem_used_mb"] > 0
    assert full["system"]["gpus"] and full["system"]["gpu_offload_supported"] is True
    # decode energy is a figure, or named as unmeasured with why (64 tokens at full offload last ~56 ms on
    # the H200, shorter than 5 of NVML's ~95 ms counter updates): never a 0
    energy = full["energy"]
    assert energy.get("decode_gpu_j_per_token") or "decode_gpu_j_per_token" in energy.get("unmeasured", {}), energy
    assert energy["idle_w"]["gpu"] > 0  # the idle draw read before the sweep
    # the roofline of each cell against the memory its decode reads: RAM at --ngl 0, the GPU's own
    # (probed by a device-to-device copy) with every layer offloaded, none for a split
    assert rows[0]["roofline"]["memory"] == "RAM" and "roofline" not in rows[8]
    gpu_roof = full["roofline"]
    assert gpu_roof["memory"] == "GPU" and gpu_roof["bandwidth_gbs"] > 500  # any datacentre GPU's HBM
    assert 0 < gpu_roof["percent_of_bandwidth"] < 100


def test_gpu_bandwidth_probe_against_nvml_clocks():
    """The copy probe's GB/s cannot exceed what the memory's clock and bus width allow (NVML)."""
    import pynvml

    from edgeprof.bench.gpu_bandwidth import probe_gpu_gbs

    gbs = probe_gpu_gbs()
    pynvml.nvmlInit()
    handle = pynvml.nvmlDeviceGetHandleByIndex(0)
    mhz = pynvml.nvmlDeviceGetMaxClockInfo(handle, pynvml.NVML_CLOCK_MEM)
    bus_bits = pynvml.nvmlDeviceGetMemoryBusWidth(handle)
    peak = 2 * mhz * 1e6 * bus_bits / 8 / 1e9  # double data rate
    print(f"probe {gbs:.0f} GB/s, NVML peak {peak:.0f} GB/s")
    assert gbs is not None and 0.3 * peak < gbs <= 1.05 * peak
