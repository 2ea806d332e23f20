"""The hardware and software every result row records (optimum-benchmark style)."""

from __future__ import annotations

import hashlib
import platform
import re
import socket
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from edgeprof import __version__
from edgeprof.paths import all_cores
from edgeprof.sysfs import read_text

# (CPU implementer, CPU part) -> core, from Linux's arch/arm64/include/asm/cputype.h (and arm's for 32-bit).
ARM_CORES = {
    (0x41, 0xB76): "ARM1176", (0x41, 0xC07): "Cortex-A7", (0x41, 0xC09): "Cortex-A9", (0x41, 0xC0F): "Cortex-A15",
    (0x41, 0xD03): "Cortex-A53", (0x41, 0xD04): "Cortex-A35", (0x41, 0xD05): "Cortex-A55", (0x41, 0xD07): "Cortex-A57",
    (0x41, 0xD08): "Cortex-A72", (0x41, 0xD09): "Cortex-A73", (0x41, 0xD0A): "Cortex-A75", (0x41, 0xD0B): "Cortex-A76",
    (0x41, 0xD0C): "Neoverse-N1", (0x41, 0xD0D): "Cortex-A77", (0x41, 0xD0E): "Cortex-A76AE",
    (0x41, 0xD40): "Neoverse-V1", (0x41, 0xD41): "Cortex-A78", (0x41, 0xD42): "Cortex-A78AE",
    (0x41, 0xD44): "Cortex-X1", (0x41, 0xD46): "Cortex-A510", (0x41, 0xD47): "Cortex-A710",
    (0x41, 0xD48): "Cortex-X2", (0x41, 0xD49): "Neoverse-N2", (0x41, 0xD4B): "Cortex-A78C",
    (0x41, 0xD4C): "Cortex-X1C", (0x41, 0xD4D): "Cortex-A715", (0x41, 0xD4E): "Cortex-X3",
    (0x41, 0xD4F): "Neoverse-V2", (0x41, 0xD80): "Cortex-A520", (0x41, 0xD81): "Cortex-A720",
    (0x41, 0xD82): "Cortex-X4", (0x41, 0xD84): "Neoverse-V3", (0x41, 0xD85): "Cortex-X925",
    (0x41, 0xD87): "Cortex-A725", (0x4E, 0x003): "Denver 2", (0x4E, 0x004): "Carmel",
    (0x51, 0x001): "Oryon",
}
# What 32-bit ARM kernels (and some vendor arm64 ones) print as "model name": the ISA, not the core.
_GENERIC_MODEL = re.compile(r"^ARMv\d.*processor", re.IGNORECASE)


def _cpuinfo_blocks(text: str) -> list[dict[str, str]]:
    """/proc/cpuinfo as one dict per blank-line-separated block (a processor, or the board's trailer)."""
    blocks: list[dict[str, str]] = [{}]
    for line in text.splitlines():
        if not line.strip():
            blocks.append({})
        elif ":" in line:
            key, value = line.split(":", 1)
            blocks[-1].setdefault(key.strip(), value.strip())
    return [b for b in blocks if b]


def _arm_cores(blocks: list[dict[str, str]]) -> str | None:
    """``4x Cortex-A76``, or ``4x Cortex-A55 + 4x Cortex-A76`` for big.LITTLE; None if a core is unknown."""
    counts: dict[str, int] = {}
    for block in blocks:
        if "CPU part" not in block:
            continue
        try:
            core = ARM_CORES.get((int(block.get("CPU implementer", ""), 0), int(block["CPU part"], 0)))
        except ValueError:
            return None
        if core is None:
            return None
        counts[core] = counts.get(core, 0) + 1
    return " + ".join(f"{n}x {core}" for core, n in counts.items()) or None


def cpu_model(root: str | Path = "/") -> str:
    """The CPU's name. x86 (and some ARM) kernels print a "model name"; arm64 kernels print none, or only
    the ISA ("ARMv8 Processor rev 1 (v8l)"), so ARM cores are named from their implementer and part
    ids. A Pi's "Model" line and the device tree name the board, the last resort."""
    base = Path(root)
    blocks = _cpuinfo_blocks(read_text(str(base / "proc/cpuinfo")) or "")
    model_name = next((b["model name"] for b in blocks if b.get("model name")), None)
    if model_name and not _GENERIC_MODEL.match(model_name):
        return model_name
    cores = _arm_cores(blocks)
    if cores:
        return cores
    for key in ("Model", "Hardware", "cpu model"):
        value = next((b[key] for b in blocks if b.get(key)), None)
        if value:
            return value
    return (model_name or read_text(str(base / "proc/device-tree/model")) or platform.processor()
            or platform.machine())


def _first_cpuinfo_name() -> str:
    """The first "model name", "Model", "Hardware" or "cpu model" line of /proc/cpuinfo (the name
    device ids were made from before ARM cores were named)."""
    text = read_text("/proc/cpuinfo") or ""
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


def system_info(device_name: str | None = None, model_paths: Iterable[str | Path] = ()) -> dict:
    """The machine's description, with the name plots and reports call it by, and how it is set up
    now (edgeprof.bench.device_config: governor, swap, the storage of ``model_paths``, power mode...)."""
    from edgeprof.bench.device_config import device_config

    info = dict(_machine())
    info["device_name"] = device_name or default_device_name(info)
    info.update(device_config(model_paths))
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
        "device_model": read_text("/proc/device-tree/model") or read_text("/sys/devices/virtual/dmi/id/product_name"),
        "hostname": socket.gethostname(),
    }
    # The id keys stored cells: built from the CPU line as first recorded, so that naming ARM cores
    # better (cpu_model) does not make a board's earlier results look like another device's.
    fingerprint = "|".join(str(v) for v in (info["hostname"], _first_cpuinfo_name(), info["ram_total_mb"],
                                             info["gpus"]))
    info["device_id"] = hashlib.sha256(fingerprint.encode()).hexdigest()[:12]
    return info
