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


def test_cpu_percent_of_a_busy_thread_agrees_with_the_process_clock():
    """Phase means against CLOCK_PROCESS_CPUTIME_ID over the same window (an independent clock; on a
    loaded machine the busy thread gets less than a core, and both must say so alike)."""
    sensor = ProcessSensor()
    with Monitor([sensor], interval=0.02) as monitor:
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for phase in ("prefill", "decode") * 10:  # marks every ~15 ms, as short phases do
            monitor.mark(phase)
            end = time.perf_counter() + 0.015
            while time.perf_counter() < end:
                pass
        monitor.mark("idle")
        expected = 100 * (time.process_time() - cpu0) / (time.perf_counter() - wall0)
    stats = summarize(monitor.readings)
    limit = 100 * all_cores()
    seconds = {p: stats[p]["seconds"] for p in ("prefill", "decode")}
    mean = sum(stats[p]["cpu_percent_mean"] * s for p, s in seconds.items()) / sum(seconds.values())
    assert mean == pytest.approx(expected, abs=25)  # 10 ms clock ticks over ~0.3 s
    for phase in ("prefill", "decode"):
        assert stats[phase]["cpu_percent_max"] <= limit
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
    """GPU prefill of 10 ms beside decode of 400 ms, a counter that updates every 50 ms."""
    phases = [("idle", 0.3)] + [("prefill", 0.01), ("decode", 0.4), ("idle", 0.05)] * 3 + [("idle", 0.3)]
    readings = nvml_like(phases, {"idle": 60.0, "prefill": 300.0, "decode": 120.0}, update_s=0.05)
    stats, gaps = summarize(readings), unmeasured_energy(readings)
    assert "gpu_energy_j" not in stats["prefill"]
    assert "updates every ~50 ms" in gaps["prefill"]["gpu_energy_j"]
    # Decode stretches span eight updates each: measured, within the smearing at each end.
    assert stats["decode"]["gpu_energy_j"] == pytest.approx(120.0 * 1.2, rel=0.1)


@pytest.mark.parametrize("update_s", [0.02, 0.05, 0.1])
def test_long_phases_are_measured_at_any_update_period(update_s):
    phases = [("idle", 0.6), ("prefill", 0.6), ("decode", 1.0), ("idle", 0.6)]
    readings = nvml_like(phases, {"idle": 60.0, "prefill": 300.0, "decode": 120.0}, update_s=update_s)
    stats = summarize(readings)
    assert stats["prefill"]["gpu_energy_j"] == pytest.approx(300.0 * 0.6, rel=0.1)
    assert stats["decode"]["gpu_energy_j"] == pytest.approx(120.0, rel=0.1)
    assert not unmeasured_energy(readings).get("decode")


def test_a_counter_that_never_moves_gives_no_energy():
    readings = [Reading(i * 0.05, phase, {"rapl_package_energy_j": 1234.5})
                for i, phase in enumerate(["idle", "prefill", "decode", "decode", "idle"])]
    stats, gaps = summarize(readings), unmeasured_energy(readings)
    assert all("rapl_package_energy_j" not in s for s in stats.values())
    assert gaps["decode"]["rapl_package_energy_j"] == "the energy counter did not advance during the cell"


def recorded_nvml_trace() -> list[Reading]:
    """A real sequence: NVML polled every few ms on the H200 device while llama.cpp ran 5 x (256-token
    prefill, 128-token decode) of a 1B Q4_K_M (benchmarks/nvml_counter_trace.py; the file says more)."""
    import json
    from pathlib import Path

    data = json.loads((Path(__file__).parent / "fixtures/recorded/h200-nvml-energy-trace.json").read_text())
    return [Reading(t, phase, {"gpu_energy_j": mj / 1000, "gpu_power_w": mw / 1000})
            for t, phase, mj, mw in data["samples"]]


def test_a_recorded_nvml_trace_is_too_coarse_for_either_phase_and_says_so():
    """The H200's counter moved every ~100 ms; prefills took ~10 ms and decodes ~150 ms. Split by
    phase, the counter gave decode 309 W on average, above every power reading of the trace (at most
    304 W): energy of the neighbouring phases smeared in. Both phases are reported unmeasured."""
    readings = recorded_nvml_trace()
    stats, gaps = summarize(readings), unmeasured_energy(readings)
    for phase in ("prefill", "decode"):
        assert "gpu_energy_j" not in stats[phase]
        assert "updates every ~100 ms" in gaps[phase]["gpu_energy_j"]
