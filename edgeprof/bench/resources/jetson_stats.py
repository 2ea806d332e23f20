"""NVIDIA Jetson boards through jetson-stats (``jtop``): the same readings as tegrastats, from the service
many Jetson owners already run.

jetson-stats is not a dependency: where its Python package imports *and* its ``jtop.service`` answers,
this sensor is used and tegrastats is not (``SUPERSEDED_BY`` in base.py); anywhere else tegrastats
is used as before. The client is connected once, when the sensor is detected: a ``jtop`` object is a
thread that can be started only once, and each new one loads the board's library versions in the
background (subprocesses that would run during a measurement).

The service pushes a snapshot every ``interval``; this sensor maps each one as it arrives (in the
client's thread) and ``sample`` returns the latest, so reading costs the monitor nothing and a reading
is at most one service interval old, as with tegrastats. Units follow jetson-stats 4.x (the shape is
unchanged through 7.x): rail power in mW, RAM in kB, clocks in kHz, GPU load and EMC in %, temperatures
in °C, an offline sensor at -256.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable

from edgeprof.bench.resources.tegrastats import INTERVAL_MS

INTERVAL_S = INTERVAL_MS / 1000  # what the service is asked for: tegrastats' pace, so both read alike
STALE_PERIODS = 3  # no snapshot for this many service intervals: the service is gone (jtop's own TIMEOUT_GAIN)
_SENSOR_OFF_C = -200.0  # jtop reports an offline thermal zone as -256


def _metric_name(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", str(text).lower()).strip("_")


def _power(power) -> dict[str, float]:
    """Each online rail in W; ``tot`` as the board's input only where jtop took it from a named input
    rail (VDD_IN, POM_5V_IN). Without one, jtop's ``tot`` is its own sum of the module rails, which
    leaves out what they do not meter (jetson_stats issues #51, #344): absent, as tegrastats gives it."""
    out: dict[str, float] = {}
    if not power:
        return out
    for name, rail in (power.get("rail") or {}).items():
        if rail.get("online", True) and rail.get("power") is not None:
            out[f"rail_{_metric_name(name)}_power_w"] = rail["power"] / 1000.0
    total = power.get("tot") or {}
    if total.get("name") and total.get("online", True) and total.get("power") is not None:
        watts = total["power"] / 1000.0
        out[f"rail_{_metric_name(total['name'])}_power_w"] = watts
        out["board_power_w"] = watts
    return out


def _memory(memory) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, prefix in (("RAM", "ram"), ("SWAP", "swap")):
        part = memory.get(key)
        if part and part.get("tot") is not None and part.get("used") is not None:
            out[f"{prefix}_used_mb"] = part["used"] / 1024.0
            out[f"{prefix}_total_mb"] = part["tot"] / 1024.0
    emc = memory.get("EMC") or {}
    # jtop puts 1 kHz in ``cur`` where it could not read the EMC clock, and divides the activity
    # counter by it: neither the clock nor the percentage means anything then.
    if emc.get("online", True) and (emc.get("cur") or 0) > 1 and emc.get("val") is not None:
        out["emc_util_percent"] = float(emc["val"])
        out["emc_freq_mhz"] = emc["cur"] / 1000.0
    return out


def _gpu(gpus) -> dict[str, float]:
    """The first GPU (a Jetson has one): load and clock. The clock is the fastest GPC's where jtop
    measures them (what tegrastats' GR3D_FREQ prints), else the devfreq clock."""
    out: dict[str, float] = {}
    for gpu in list(gpus.values())[:1]:
        load = (gpu.get("status") or {}).get("load")
        if load is not None:
            out["gpu_util_percent"] = float(load)
        freq = gpu.get("freq") or {}
        clocks = [c for c in freq.get("GPC") or [] if c is not None] or ([freq["cur"]] if freq.get("cur") else [])
        if clocks:
            out["gpu_freq_mhz"] = max(clocks) / 1000.0
    return out


def _cpu(cpu) -> dict[str, float]:
    """Mean load over the online cores (an offline core is not an idle one) and the fastest core's clock."""
    cores = [c for c in (cpu.get("cpu") or []) if c.get("online")]
    loads = [100.0 - c["idle"] for c in cores if c.get("idle") is not None]
    clocks = [c["freq"]["cur"] for c in cores if (c.get("freq") or {}).get("cur")]
    out: dict[str, float] = {}
    if loads:
        out["cpu_load_percent"] = sum(loads) / len(loads)
    if clocks:
        out["cpu_freq_max_mhz"] = max(clocks) / 1000.0
    return out


def _temperatures(temperature) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, zone in temperature.items():
        celsius = zone.get("temp")
        if zone.get("online", True) and celsius is not None and celsius > _SENSOR_OFF_C:
            out[f"temp_{_metric_name(name)}_c"] = float(celsius)
    return out


_PARTS = (("power", _power), ("memory", _memory), ("gpu", _gpu), ("cpu", _cpu), ("temperature", _temperatures))


def read_jtop(client) -> dict[str, float]:
    """A connected jtop client's current snapshot -> the metric names tegrastats gives. A part this
    board or jetson-stats version lacks (or shapes otherwise) is absent; the other parts still read."""
    values: dict[str, float] = {}
    for attribute, part in _PARTS:
        try:
            values.update(part(getattr(client, attribute)))
        except Exception:  # noqa: BLE001 - one unreadable part must not cost the others
            continue
    return values


def connect(interval_s: float = INTERVAL_S):
    """A started jtop client, or None where jetson-stats is not installed or its service does not answer."""
    try:
        from jtop import jtop
    except ImportError:
        return None
    client = jtop(interval=interval_s)
    try:
        client.start()  # connects to jtop.service and waits for its first snapshot
    except Exception:  # noqa: BLE001 - JtopException (service off, no permission, version mismatch), OSError
        return None
    return client


class JtopSensor:
    """Readings from a connected jtop client. ``sample`` returns the latest snapshot's metrics, or {}
    once the service has sent nothing for ``STALE_PERIODS`` of its interval (stopped, or the client
    lost it): stale values would read as current ones."""

    name = "jtop"

    def __init__(self, client, clock: Callable[[], float] = time.monotonic):
        self._client = client
        self._clock = clock
        # Another client may have set the service's pace first: it keeps that one, and says so.
        served = getattr(client, "interval", None)
        self.interval_s = float(served) if isinstance(served, int | float) and served > 0 else INTERVAL_S
        self._latest: dict[str, float] = {}
        self._at: float | None = None
        self._lock = threading.Lock()
        self.update(client)  # start() waited for the first snapshot: it is already there
        client.attach(self.update)

    @classmethod
    def detect(cls, interval_s: float = INTERVAL_S) -> JtopSensor | None:
        client = connect(interval_s)
        return None if client is None else cls(client)

    def update(self, client) -> None:
        """The client's observer: called in its thread with each new snapshot."""
        values = read_jtop(client)
        with self._lock:
            self._latest, self._at = values, self._clock()

    def start(self) -> None:
        pass  # connected since detection; each measurement reads the same stream

    def sample(self) -> dict[str, float]:
        with self._lock:
            if self._at is None or self._clock() - self._at > STALE_PERIODS * self.interval_s:
                return {}
            return dict(self._latest)

    def stop(self) -> None:
        pass  # the client stays for the next measurement; it is a daemon thread and ends with edgeprof
