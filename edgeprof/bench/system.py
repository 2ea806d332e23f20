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
