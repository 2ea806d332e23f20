"""This process's memory and CPU use, and system memory, through psutil (every platform)."""

from __future__ import annotations

import os


class ProcessSensor:
    name = "process"

    def __init__(self):
        import psutil

        self._proc = psutil.Process(os.getpid())
        self._psutil = psutil

    @classmethod
    def detect(cls) -> ProcessSensor | None:
        try:
            return cls()
        except ImportError:
            return None

    def start(self) -> None:
        pass

    def sample(self) -> dict[str, float]:
        mem = self._proc.memory_info()
        cpu = self._proc.cpu_times()
        return {
            "rss_mb": mem.rss / 2**20,
            # Cumulative CPU seconds, not psutil's cpu_percent(): that divides by the time since its own
            # previous call, and two calls microseconds apart (a phase mark and the monitor thread) gave
            # readings of thousands of percent. summary.py turns the counter into % over real windows.
            "cpu_time_s": cpu.user + cpu.system,
            "system_mem_available_mb": self._psutil.virtual_memory().available / 2**20,
        }

    def stop(self) -> None:
        pass
