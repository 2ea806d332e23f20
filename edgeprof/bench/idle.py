"""The device's idle power, read once before a sweep: a board draws watts doing nothing (a Pi 5
about 2-3 W, a Jetson several), and gross J/token charges all of it to the model. Net J/token
subtracts the idle draw over the phase's time, which is what running the model adds."""

from __future__ import annotations

import time

from edgeprof.bench.resources import Monitor
from edgeprof.bench.resources.summary import summarize_with_gaps

ENERGY_SENSORS = frozenset({"nvml", "rapl", "jtop", "tegrastats", "raspberry_pi", "power_meter"})


def idle_watts(sensors: list, seconds: float, interval: float) -> dict[str, float]:
    """``{source: watts}`` over ``seconds`` with nothing running, for every source that measured energy
    (the same sources and rules as a cell's energy); empty where none can, or ``seconds`` is 0."""
    if seconds <= 0 or not any(s.name in ENERGY_SENSORS for s in sensors):
        return {}
    margin = max(3 * interval, 0.2)  # counter updates on both sides: the idle stretch lies between two
    with Monitor(sensors, interval) as monitor:
        monitor.mark("before")
        time.sleep(margin)
        monitor.mark("baseline")
        time.sleep(seconds)
        monitor.mark("after")
        time.sleep(margin)
    phases, _ = summarize_with_gaps(monitor.readings)
    idle = phases.get("baseline", {})  # not "idle": the monitor starts in that phase
    wall = idle.get("seconds")
    if not wall:
        return {}
    return {key.removesuffix("_energy_j"): round(joules / wall, 4) for key, joules in idle.items()
            if key.endswith("_energy_j")}


def net_j_per_token(joules: float, idle_w: float, seconds: float, tokens: int) -> float | None:
    """What the phase cost above idle, per token; None where the idle draw exceeds the reading (the
    noise of a short phase): a net figure below zero measures nothing."""
    net = joules - idle_w * seconds
    return round(net / tokens, 6) if net >= 0 and tokens else None
