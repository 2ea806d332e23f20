"""The hardware and software every result row records (optimum-benchmark style)."""

from __future__ import annotations

import hashlib
import platform
import socket
from functools import lru_cache
from pathlib import Path

from edgeprof import __version__
from edgeprof.paths import all_cores


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text(errors="replace").strip("\x00\n ")
    except OSError:
        return None


def cpu_model() -> str:
    text = _read("/proc/cpuinfo") or ""
    for key in ("model name", "Model", "Hardware", "cpu model"):
        for line in text.splitlines():
            if line.split(":")[0].strip() == key:
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


# ggml_backend_dev_type (ggml-backend.h): which devices llama-bench counts as CPUs and which as GPUs
_CPU_TYPES, _GPU_TYPES = (0, 3), (1, 2)  # CPU, ACCEL; GPU, IGPU


def ggml_devices() -> dict[str, str] | None:
    """The machine as llama-bench names it in its rows: cpu_info and gpu_info are ggml's descriptions
    of its CPU-like and GPU-like devices, backends the registered backends other than the CPU's (an
    RPC backend only when it has devices). compare-llama-bench.py pairs rows only when these match,
    and ggml's names differ from /proc/cpuinfo's on ARM boards ("CPU") and from NVML's on Jetsons.
    None where the library does not export ggml's registry. llama-cpp-python binds none of these,
    so they are called through ctypes from the libllama it loaded (which links ggml)."""
    lib = _ggml_registry()
    if lib is None:
        return None
    devices = [lib.ggml_backend_dev_get(i) for i in range(lib.ggml_backend_dev_count())]

    def described(types) -> str:
        return ", ".join(lib.ggml_backend_dev_description(d).decode(errors="replace") for d in devices
                         if lib.ggml_backend_dev_type(d) in types)

    backends = []
    for reg in (lib.ggml_backend_reg_get(i) for i in range(lib.ggml_backend_reg_count())):
        name = lib.ggml_backend_reg_name(reg).decode(errors="replace")
        if name.startswith("RPC"):
            backends += ["RPC"] if lib.ggml_backend_reg_dev_count(reg) else []
        elif name != "CPU":
            backends.append(name)
    return {"cpu_info": described(_CPU_TYPES), "gpu_info": described(_GPU_TYPES),
            "backends": ",".join(backends) or "CPU"}


def _ggml_registry():
    import ctypes

    import llama_cpp.llama_cpp as bindings

    lib = bindings._lib
    pointer, size, text = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p
    signatures = {"ggml_backend_dev_count": ([], size), "ggml_backend_dev_get": ([size], pointer),
                  "ggml_backend_dev_description": ([pointer], text), "ggml_backend_dev_type": ([pointer], ctypes.c_int),
                  "ggml_backend_reg_count": ([], size), "ggml_backend_reg_get": ([size], pointer),
                  "ggml_backend_reg_name": ([pointer], text), "ggml_backend_reg_dev_count": ([pointer], size)}
    try:
        for name, (argtypes, restype) in signatures.items():
            function = getattr(lib, name)
            function.argtypes, function.restype = argtypes, restype
    except AttributeError:
        return None
    return lib


def gpus() -> list[dict[str, str]]:
    from edgeprof.bench.resources.nvml import NvmlSensor

    sensor = NvmlSensor.detect()
    return sensor.devices() if sensor else []


def system_info(device_name: str | None = None) -> dict:
    """The machine's description, with the name plots and reports call it by."""
    info = dict(_machine())
    info["device_name"] = device_name or default_device_name(info)
    return info


def default_device_name(info: dict) -> str:
    """The board's model (a Pi or Jetson names itself in the device tree) or the hostname, plus the
    GPU where there is one: cloud and CI machines often call themselves just "vm"."""
    name = info["device_model"] or info["hostname"]
    gpus = info.get("gpus") or []
    return f"{name} + {gpus[0]['name']}" if gpus else name


@lru_cache(maxsize=1)
def _machine() -> dict:
    import psutil

    from edgeprof import llamacpp

    llamacpp.init()
    import llama_cpp

    info = {
        "edgeprof_version": __version__,
        "llama_cpp_python_version": llamacpp.version(),
        "llama_cpp_system_info": llama_cpp.llama_print_system_info().decode(errors="replace").strip(),
        "gpu_offload_supported": bool(llama_cpp.llama_supports_gpu_offload()),
        "cpu_model": cpu_model(),
        "cpu_cores_physical": psutil.cpu_count(logical=False),
        "cpu_cores_logical": psutil.cpu_count(logical=True),
        "cpu_affinity": all_cores(),
        "ram_total_mb": round(psutil.virtual_memory().total / 2**20),
        "gpus": gpus(),
        "ggml_devices": ggml_devices(),
        "os": platform.platform(),
        "kernel": platform.release(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "device_model": _read("/proc/device-tree/model") or _read("/sys/devices/virtual/dmi/id/product_name"),
        "hostname": socket.gethostname(),
    }
    fingerprint = "|".join(str(info[k]) for k in ("hostname", "cpu_model", "ram_total_mb", "gpus"))
    info["device_id"] = hashlib.sha256(fingerprint.encode()).hexdigest()[:12]
    return info
