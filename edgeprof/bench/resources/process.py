"""This process's memory and CPU use, and system memory, through psutil (every platform)."""

from __future__ import annotations

import os


class ProcessSampler:
    name = "process"

    def __init__(self):
        import psutil

        self._proc = psutil.Process(os.getpid())
        self._psutil = psutil

    @classmethod
    def detect(cls) -> "ProcessSampler | None":
        try:
            return cls()
        except ImportError:
            return None

    def start(self) -> None:
        self._proc.cpu_percent(None)  # the first call only sets the reference point

    def sample(self) -> dict[str, float]:
        mem = self._proc.memory_info()
        return {
            "rss_mb": mem.rss / 2**20,
            "cpu_percent": self._proc.cpu_percent(None),  # 100 = one core busy
            "system_mem_available_mb": self._psutil.virtual_memory().available / 2**20,
        }

    def stop(self) -> None:
        pass
