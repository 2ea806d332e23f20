"""The sensor protocol, the registry of sensors and the background ``Monitor``."""

from __future__ import annotations

import importlib
import threading
import time
from dataclasses import dataclass
from typing import Protocol

# name -> "module:Class"; imported only when asked for, so a missing library costs nothing.
SENSORS: dict[str, str] = {
    "process": "edgeprof.bench.resources.process:ProcessSensor",
    "nvml": "edgeprof.bench.resources.nvml:NvmlSensor",
    "jtop": "edgeprof.bench.resources.jetson_stats:JtopSensor",  # before tegrastats: it replaces it where found
    "tegrastats": "edgeprof.bench.resources.tegrastats:TegrastatsSensor",
    "rapl": "edgeprof.bench.resources.rapl:RaplSensor",
    "raspberry_pi": "edgeprof.bench.resources.raspberry_pi:RaspberryPiSensor",
    "thermal": "edgeprof.bench.resources.thermal:ThermalSensor",
    "power_meter": "edgeprof.bench.resources.power_meter:PowerMeterSensor",
}

# sensor -> the one that replaces it where that one was found first: both read the same board, and
# two readers of one metric would interleave their values.
SUPERSEDED_BY: dict[str, str] = {"tegrastats": "jtop"}


class Sensor(Protocol):
    """One source of readings. ``sample`` returns metric -> value for this instant.

    Metric names carry their unit (``rss_mb``, ``gpu_power_w``, ``cpu_temp_c``). Cumulative
    energy counters end in ``_energy_j``; the monitor turns them into per-phase energy.
    """

    name: str

    def start(self) -> None: ...

    def sample(self) -> dict[str, float]: ...

    def stop(self) -> None: ...


class ChannelSensor:
    """A sensor over a fixed set of sysfs channels found once (RAPL zones, hwmon power meters): each
    has a ``metric`` name and a ``read()`` that gives its value, or None when unreadable right now.
    Subclasses set ``name`` and ``ROOT`` and say how to ``find`` their channels under a root."""

    name = ""
    ROOT = "/"

    def __init__(self, root=None):
        from pathlib import Path

        self.root = Path(root if root is not None else self.ROOT)
        self._channels = self.find(self.root)

    @staticmethod
    def find(root) -> list:
        raise NotImplementedError

    @classmethod
    def detect(cls, root=None):
        sensor = cls(root)
        return sensor if sensor._channels else None

    @property
    def metrics(self) -> list[str]:
        return [c.metric for c in self._channels]

    def start(self) -> None:
        pass

    def sample(self) -> dict[str, float]:
        values = ((c.metric, c.read()) for c in self._channels)
        return {metric: value for metric, value in values if value is not None}

    def stop(self) -> None:
        pass


def available_sensors(names: list[str] | None = None) -> list[Sensor]:
    """Instantiate the sensors whose sensors exist here (all known ones when ``names`` is None)."""
    found = []
    for name in list(SENSORS) if names is None else names:
        if SUPERSEDED_BY.get(name) in {s.name for s in found}:
            continue
        module, cls = SENSORS[name].split(":")
        try:
            sensor = getattr(importlib.import_module(module), cls).detect()
        except Exception:  # noqa: BLE001 - a sensor that cannot even start is simply absent
            continue
        if sensor is not None:
            found.append(sensor)
    return found


@dataclass(frozen=True)
class Reading:
    t: float  # seconds since the monitor started
    phase: str
    values: dict[str, float]


class Monitor:
    """Background sampling with phase tags. Use as a context manager around a measurement.

    The timed loop only assigns ``monitor.phase`` between phases (never per token), so the
    sensor costs the loop nothing but the CPU time of its own thread, which is measured:
    ``overhead`` reports the thread's CPU seconds per sample.
    """

    def __init__(self, sensors: list[Sensor], interval: float = 0.05):
        self.sensors = sensors
        self.interval = interval
        self.phase = "idle"
        self.readings: list[Reading] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="edgeprof-monitor", daemon=True)
        self._cpu_seconds = 0.0
        self._t0 = 0.0

    def __enter__(self) -> Monitor:
        for sensor in self.sensors:
            sensor.start()
        self._t0 = time.perf_counter()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        for sensor in self.sensors:
            sensor.stop()

    def _run(self) -> None:
        cpu_start = time.thread_time()
        while True:
            self.take()
            if self._stop.wait(self.interval):
                break
        self.take()
        self._cpu_seconds = time.thread_time() - cpu_start

    def take(self) -> None:
        values: dict[str, float] = {}
        for sensor in self.sensors:
            try:
                values.update(sensor.sample())
            except Exception:  # noqa: BLE001 - a flaky sensor must not kill a benchmark
                continue
        self.readings.append(Reading(time.perf_counter() - self._t0, self.phase, values))

    def mark(self, phase: str) -> None:
        """Switch phase and take a reading at the boundary (so short phases are never empty)."""
        self.phase = phase
        if self._thread.is_alive():
            self.take()

    @property
    def overhead(self) -> dict[str, float]:
        n = max(1, len(self.readings))
        return {"sampler_cpu_ms_per_sample": 1000 * self._cpu_seconds / n, "samples": float(len(self.readings)),
                "interval_s": self.interval}
