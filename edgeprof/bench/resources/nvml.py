"""NVIDIA GPUs through NVML (nvidia-ml-py): utilisation, memory, power, energy, temperature, clocks."""

from __future__ import annotations

# Clock-event reasons that mean heat or power cut the clock (not "idle" or "application clocks").
SLOWDOWN_REASONS = ("SwPowerCap", "HwSlowdown", "SwThermalSlowdown", "HwThermalSlowdown", "HwPowerBrakeSlowdown")


class NvmlSensor:
    name = "nvml"

    def __init__(self, pynvml, handles):
        self._nvml = pynvml
        self._handles = handles
        self._slowdown = 0
        for reason in SLOWDOWN_REASONS:
            self._slowdown |= getattr(pynvml, f"nvmlClocksEventReason{reason}", 0)

    @classmethod
    def detect(cls) -> NvmlSensor | None:
        try:
            import pynvml

            pynvml.nvmlInit()
            count = pynvml.nvmlDeviceGetCount()
        except Exception:  # noqa: BLE001 - no library, no driver or no GPU: not available
            return None
        if count == 0:
            return None
        return cls(pynvml, [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)])

    def start(self) -> None:
        pass

    def _one(self, prefix: str, handle) -> dict[str, float]:
        nv = self._nvml
        out: dict[str, float] = {}
        readers = {
            "util_percent": lambda: nv.nvmlDeviceGetUtilizationRates(handle).gpu,
            "mem_used_mb": lambda: nv.nvmlDeviceGetMemoryInfo(handle).used / 2**20,  # the whole device's
            "proc_mem_used_mb": lambda: self._own_memory(handle) / 2**20,  # this process's alone
            "power_w": lambda: nv.nvmlDeviceGetPowerUsage(handle) / 1000.0,
            "energy_j": lambda: nv.nvmlDeviceGetTotalEnergyConsumption(handle) / 1000.0,
            "temp_c": lambda: nv.nvmlDeviceGetTemperature(handle, nv.NVML_TEMPERATURE_GPU),
            "sm_clock_mhz": lambda: nv.nvmlDeviceGetClockInfo(handle, nv.NVML_CLOCK_SM),
            "throttled_now": lambda: bool(nv.nvmlDeviceGetCurrentClocksEventReasons(handle) & self._slowdown),
        }
        for key, read in readers.items():
            try:
                out[f"{prefix}_{key}"] = float(read())
            except Exception:  # noqa: BLE001 - NVML_ERROR_NOT_SUPPORTED on some boards: leave it absent
                continue
        return out

    def _own_memory(self, handle) -> int:
        """GPU memory this process holds (its CUDA context included). In a container whose pid
        namespace NVML does not see, the process is not listed: the reading is then absent."""
        import os

        for proc in self._nvml.nvmlDeviceGetComputeRunningProcesses(handle):
            if proc.pid == os.getpid() and proc.usedGpuMemory is not None:
                return proc.usedGpuMemory
        raise LookupError("this process is not among the GPU's")

    def sample(self) -> dict[str, float]:
        values: dict[str, float] = {}
        for i, handle in enumerate(self._handles):
            values.update(self._one("gpu" if i == 0 else f"gpu{i}", handle))
        return values

    def stop(self) -> None:
        pass

    def devices(self) -> list[dict[str, str]]:
        nv = self._nvml
        out = []
        for handle in self._handles:
            name = nv.nvmlDeviceGetName(handle)
            out.append({"name": name.decode() if isinstance(name, bytes) else str(name),
                        "memory_mb": str(nv.nvmlDeviceGetMemoryInfo(handle).total // 2**20)})
        return out
