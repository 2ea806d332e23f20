"""The GPU's memory bandwidth, for the roofline of cells decoded there: a device-to-device copy
through the CUDA runtime (ctypes; the runtime a CUDA build of llama.cpp already loads), timed over
several repetitions. A copy reads and writes every byte, so GB/s counts both, as `bandwidthTest`
and vendor data sheets do. Where there is no CUDA runtime or no device, nothing is probed.

The probe runs in a child process: measured on the H200 device, a process whose CUDA runtime did the
copies decoded 5% slower afterwards (Llama-3.2-1B Q4_K_M, tg128 @ d512: 872 -> 829 t/s, persistent),
which put every later GPU cell of the sweep below llama-bench."""

from __future__ import annotations

import ctypes
import subprocess
import sys
import time

_DEVICE_TO_DEVICE = 3  # cudaMemcpyDeviceToDevice


def _runtime():
    """libcudart, or None: the copy llama.cpp's CUDA backend loaded, else one the loader can find."""
    import ctypes.util

    names = ["libcudart.so"] + [f"libcudart.so.{v}" for v in (13, 12, 11)]
    found = ctypes.util.find_library("cudart")
    for name in ([found] if found else []) + names:
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    return None


def probe_gpu_gbs(megabytes: int = 512, repetitions: int = 20, timeout: float = 60) -> float | None:
    """Device memory bandwidth in GB/s (read + write of a ``megabytes`` copy), or None; measured in a
    child process so that this one's CUDA state stays as llama.cpp left it."""
    code = f"from edgeprof.bench.gpu_bandwidth import probe_here; print(probe_here({megabytes}, {repetitions}))"
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)
        return float(done.stdout.split()[-1]) if done.returncode == 0 else None
    except (subprocess.TimeoutExpired, ValueError, IndexError, OSError):
        return None


def probe_here(megabytes: int = 512, repetitions: int = 20) -> float | None:
    """The probe in this process (``probe_gpu_gbs`` runs it in a child)."""
    cuda = _runtime()
    if cuda is None:
        return None
    size = megabytes * 2**20
    src, dst = ctypes.c_void_p(), ctypes.c_void_p()
    if cuda.cudaMalloc(ctypes.byref(src), ctypes.c_size_t(size)) != 0:
        return None
    try:
        if cuda.cudaMalloc(ctypes.byref(dst), ctypes.c_size_t(size)) != 0:
            return None
        try:
            return _timed_copies(cuda, dst, src, size, repetitions)
        finally:
            cuda.cudaFree(dst)
    finally:
        cuda.cudaFree(src)


def _timed_copies(cuda, dst, src, size: int, repetitions: int) -> float | None:
    copy = cuda.cudaMemcpy
    copy.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    if copy(dst, src, size, _DEVICE_TO_DEVICE) != 0 or cuda.cudaDeviceSynchronize() != 0:  # warm, and checked
        return None
    started = time.perf_counter()
    for _ in range(repetitions):
        copy(dst, src, size, _DEVICE_TO_DEVICE)
    cuda.cudaDeviceSynchronize()
    return 2 * size * repetitions / (time.perf_counter() - started) / 1e9
