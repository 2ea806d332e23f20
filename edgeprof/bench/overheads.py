"""A GPU backend's own memory (CUDA context and workspaces on the GPU; its libraries and pinned
buffers on the host), measured once per device and remembered, for the memory guard.

Measured as what the process holds beyond the model's own buffers the first time a model is
offloaded in a process (before that the backend is not initialised, so the host side shows too).
Until a device has been measured, the guard uses an assumed value and says so in every row.
Measured on the H200 device (CUDA 13, llama.cpp of llama-cpp-python 0.3.36): about 560 MB on the
GPU and 205 MB on the host.
"""

from __future__ import annotations

import json
import time

from edgeprof.bench.memory import Overheads

ASSUMED = Overheads(gpu_mb=600.0, host_mb=250.0,
                    source="assumed (not yet measured on this device; the first offloaded model measures it)")
_FILE = "backend-overheads.json"
_state = {"backend_started": False}  # once a GPU backend is up, RSS baselines already include its host share


def _key(system: dict) -> str:
    gpu = (system.get("gpus") or [{}])[0].get("name") or system.get("device_model") or "?"
    return f"{gpu} | llama-cpp-python {system.get('llama_cpp_python_version')}"


def _path():
    from edgeprof.paths import cache_dir

    return cache_dir() / _FILE


def _stored() -> dict:
    try:
        data = json.loads(_path().read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def overheads_for(system: dict) -> Overheads | None:
    """None where no layer can be offloaded (a CPU build, or no GPU)."""
    from edgeprof.bench.memory import unified_memory

    # A Jetson has no NVML, so no "gpus" there; its GPU is known from the board.
    if not (system.get("gpu_offload_supported") and (system.get("gpus") or unified_memory(system))):
        return None
    entry = _stored().get(_key(system))
    try:
        return Overheads(float(entry["gpu_mb"]), float(entry["host_mb"]), f"measured on this device {entry['when']}")
    except (TypeError, KeyError, ValueError):
        return ASSUMED


def host_share_visible() -> bool:
    """Whether the next load's RSS growth still includes the backend's host memory."""
    return not _state["backend_started"]


def remember(system: dict, gpu_mb: float | None, host_mb: float | None) -> None:
    """Store what one offloaded model showed (values None: not measurable here, kept as they were)."""
    from edgeprof.atomic import atomic_write_text

    _state["backend_started"] = True
    if gpu_mb is None and host_mb is None:
        return
    stored = _stored()
    entry = dict(stored.get(_key(system)) or {"gpu_mb": ASSUMED.gpu_mb, "host_mb": ASSUMED.host_mb})
    if gpu_mb is not None:
        entry["gpu_mb"] = round(max(0.0, gpu_mb), 1)
    if host_mb is not None:
        entry["host_mb"] = round(max(0.0, host_mb), 1)
    entry["when"] = time.strftime("%Y-%m-%d")
    stored[_key(system)] = entry
    path = _path()
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(stored, indent=1))
