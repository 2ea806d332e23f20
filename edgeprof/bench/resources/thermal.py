"""Temperatures of any Linux machine (``/sys/class/thermal``), and what a cell's readings say about heat.

A Raspberry Pi's zones are read by its own sensor (with the firmware's throttle flags); this one
covers the rest: laptops, Rockchip and Jetson boards, x86 servers. ``EDGEPROF_THERMAL_DIR`` points
it at another folder of ``thermal_zone*`` entries (boards that expose them elsewhere).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from edgeprof.bench.resources.raspberry_pi import is_raspberry_pi, read_thermal_zones

# Readings that mean "the clock was cut": the Pi firmware's flags and NVML's clock-event reasons.
THROTTLE_KEYS = ("throttled_now", "freq_capped_now", "soft_temp_limit_now", "gpu_throttled_now")


def thermal_dir() -> Path:
    return Path(os.environ.get("EDGEPROF_THERMAL_DIR", "/sys/class/thermal"))


class ThermalSensor:
    name = "thermal"

    def __init__(self, folder: Path):
        self.folder = folder

    @classmethod
    def detect(cls) -> ThermalSensor | None:
        folder = thermal_dir()
        if is_raspberry_pi() or not read_thermal_zones(folder):
            return None  # a Pi's zones come with its own sensor; no zones, nothing to read
        return cls(folder)

    def start(self) -> None:
        pass

    def sample(self) -> dict[str, float]:
        return read_thermal_zones(self.folder)

    def stop(self) -> None:
        pass


def hottest(values: dict[str, float]) -> float | None:
    """The highest temperature among one sample's readings (metric names ``*temp*_c``)."""
    temps = [v for k, v in values.items() if "temp" in k and k.endswith("_c")]
    return max(temps) if temps else None


def hottest_now(sensors: list) -> float | None:
    """The highest temperature any of ``sensors`` reads at this moment."""
    return hottest({k: v for sensor in sensors for k, v in sensor.sample().items()})


def cell_thermal(resources: dict[str, dict[str, float]]) -> dict:
    """Per row: the hottest reading and whether any clock was cut at any moment of the cell."""
    maxima = {k.removesuffix("_max"): v for phase in resources.values() for k, v in phase.items() if k.endswith("_max")}
    throttles = [v for k, v in maxima.items() if k.endswith(THROTTLE_KEYS)]
    return {"max_temp_c": hottest(maxima), "throttled": bool(max(throttles)) if throttles else None}


def wait_until_cool(sensors: list, limit_c: float, timeout_s: float, poll_s: float = 1.0) -> dict:
    """Before a measurement: wait while the hottest sensor reads above ``limit_c`` (at most
    ``timeout_s``). Returns what the row records: seconds waited, temperature at the start, and
    whether the wait gave up."""
    started = time.monotonic()
    while True:
        temp = hottest_now(sensors)
        waited = time.monotonic() - started
        if temp is None or temp <= limit_c or waited >= timeout_s:
            return {"cooldown_s": round(waited, 2), "start_temp_c": temp,
                    "cooldown_gave_up": temp is not None and temp > limit_c}
        time.sleep(poll_s)
