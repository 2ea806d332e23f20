"""Resource figures that cannot lie: CPU % from CPU-time deltas over real windows (never above what
the machine has), energy only where the sensor could measure it (absent with the reason, never 0)."""

from __future__ import annotations

import time

import pytest

from edgeprof.bench.resources.base import Monitor, Reading
from edgeprof.bench.resources.process import ProcessSensor
from edgeprof.bench.resources.summary import summarize, timeline, unmeasured_energy, with_cpu_percent
from edgeprof.paths import all_cores


def test_cpu_percent_over_tiny_intervals_stays_within_the_machine():
    """The old failure: two readings microseconds apart (a phase mark beside the monitor thread) and
    a CPU-time counter that moves in 10 ms ticks gave readings of thousands of percent."""
    readings = [Reading(0.0, "idle", {"cpu_time_s": 0.00}), Reading(0.050, "prefill", {"cpu_time_s": 0.04}),
                Reading(0.05001, "prefill", {"cpu_time_s": 0.05}),  # one tick, 10 us later
                Reading(0.100, "decode", {"cpu_time_s": 0.13}), Reading(0.150, "decode", {"cpu_time_s": 0.22}),
                Reading(0.200, "idle", {"cpu_time_s": 0.31})]
    derived = [r.values.get("cpu_percent") for r in with_cpu_percent(readings, cores=2)]
    assert all(p is None or 0 <= p <= 200 for p in derived)
    stats = summarize(readings, cores=2)
    # Phase means are CPU seconds over wall seconds: prefill 0.09 s / 0.05 s, decode 0.18 s / 0.1 s.
    assert stats["prefill"]["cpu_percent_mean"] == pytest.approx(180.0)
    assert stats["decode"]["cpu_percent_mean"] == pytest.approx(180.0)
    assert max(s["cpu_percent_max"] for s in stats.values() if "cpu_percent_max" in s) <= 200


def test_cpu_percent_of_a_busy_thread_is_about_one_core():
    sensor = ProcessSensor()
    with Monitor([sensor], interval=0.02) as monitor:
        for phase in ("prefill", "decode") * 10:  # marks every ~15 ms, as short phases do
            monitor.mark(phase)
            end = time.perf_counter() + 0.015
            while time.perf_counter() < end:
                pass
        monitor.mark("idle")
    stats = summarize(monitor.readings)
    limit = 100 * all_cores()
    for phase in ("prefill", "decode"):
        assert stats[phase]["cpu_percent_max"] <= limit
        assert 50 <= stats[phase]["cpu_percent_mean"] <= min(limit, 160)  # one busy thread + the monitor
    values = timeline(monitor.readings)["values"]["cpu_percent"]
    assert max(v for v in values if v is not None) <= limit


def nvml_like(phases: list[tuple[str, float]], watts: dict[str, float], update_s: float, step_s: float = 0.005):
    """Readings of a cumulative energy counter that refreshes every ``update_s`` (as NVML's
    nvmlDeviceGetTotalEnergyConsumption does, every 20-100 ms depending on the GPU), read every
    ``step_s`` with a reading at every phase boundary, while the device draws ``watts[phase]``."""
    readings, t, true_energy, shown, next_update = [], 0.0, 0.0, 0.0, update_s
    for phase, seconds in phases:
        end = t + seconds
        while True:
            readings.append(Reading(round(t, 6), phase, {"gpu_energy_j": shown}))
            step = min(step_s, end - t)
            if step <= 1e-12:
                break
            true_energy += watts[phase] * step
            t += step
            if t >= next_update - 1e-12:
                shown, next_update = true_energy, next_update + update_s
    readings.append(Reading(round(t, 6), "idle", {"gpu_energy_j": shown}))
    return readings


def test_a_phase_shorter_than_the_counter_update_is_unmeasured_not_zero():
    """GPU prefill of 10 ms beside decode of 200 ms, a counter that updates every 50 ms."""
    phases = [("idle", 0.1)] + [("prefill", 0.01), ("decode", 0.2)] * 3 + [("idle", 0.1)]
    readings = nvml_like(phases, {"idle": 60.0, "prefill": 300.0, "decode": 120.0}, update_s=0.05)
    stats, gaps = summarize(readings), unmeasured_energy(readings)
    assert "gpu_energy_j" not in stats["prefill"]
    assert "update period (~50 ms)" in gaps["prefill"]["gpu_energy_j"]
    # Decode stretches span four updates each: measured, within the smearing of one update at each end.
    assert stats["decode"]["gpu_energy_j"] == pytest.approx(120.0 * 0.6, rel=0.15)


@pytest.mark.parametrize("update_s", [0.02, 0.05, 0.1])
def test_long_phases_are_measured_at_any_update_period(update_s):
    phases = [("idle", 0.2), ("prefill", 0.3), ("decode", 1.0), ("idle", 0.2)]
    readings = nvml_like(phases, {"idle": 60.0, "prefill": 300.0, "decode": 120.0}, update_s=update_s)
    stats = summarize(readings)
    assert stats["prefill"]["gpu_energy_j"] == pytest.approx(300.0 * 0.3, rel=0.25)
    assert stats["decode"]["gpu_energy_j"] == pytest.approx(120.0, rel=0.1)
    assert not unmeasured_energy(readings).get("decode")


def test_a_counter_that_never_moves_gives_no_energy():
    readings = [Reading(i * 0.05, phase, {"rapl_package_energy_j": 1234.5})
                for i, phase in enumerate(["idle", "prefill", "decode", "decode", "idle"])]
    stats, gaps = summarize(readings), unmeasured_energy(readings)
    assert all("rapl_package_energy_j" not in s for s in stats.values())
    assert gaps["decode"]["rapl_package_energy_j"] == "the energy counter did not advance during the cell"
