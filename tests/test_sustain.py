"""Sustained decode on the real llama.cpp (tiny model): windows of continuous decoding, the context
refilled when full, sensors lined up with windows, burst vs steady state."""

from __future__ import annotations

import pytest

from edgeprof.bench.engine import Context, ContextSettings, Model
from edgeprof.bench.measure import random_prompt
from edgeprof.bench.resources.base import Monitor, Reading
from edgeprof.bench.resources.process import ProcessSensor
from edgeprof.bench.sustain import run_sustained, steady_state, windows_with_sensors


def test_continuous_decode_in_windows_refilling_a_full_context(tiny_levels):
    path = tiny_levels("Q8_0")["Q8_0"]
    with Model(path) as model, Context(model, ContextSettings(n_ctx=32, n_threads=1)) as ctx:
        with Monitor([ProcessSensor()], interval=0.05) as monitor:
            rep, windows = run_sustained(ctx, random_prompt(8, model.n_vocab, 1), seconds=1.5, window_s=0.3,
                                         monitor=monitor)
    assert len(windows) >= 3 and sum(w.tokens for w in windows) <= rep.tokens_generated
    assert rep.tokens_generated > 32  # more than one context's worth: it was refilled
    assert all(w.tps > 0 and w.decode_s <= w.wall_s for w in windows)
    joined = windows_with_sensors(windows, monitor.readings)
    starts = [w["t_s"] for w in joined]
    assert starts == sorted(starts) and all(0 <= s <= monitor.readings[-1].t for s in starts)


def test_steady_state_from_recorded_windows():
    """A board that slows after 60 s: 10 windows of 20 s, t/s 20 -> 15, temperature rising, a
    throttle flag from the fourth window, board power read."""
    windows = [{"t_s": 20.0 * i, "tps": 20.0 if i < 3 else 15.0, "board_power_w": 10.0 if i < 3 else 8.0,
                "throttled_now": 1.0 if i >= 3 else 0.0} for i in range(10)]
    result = steady_state(windows)
    assert result["burst_tps"] == 20.0 and result["steady_tps"] == 15.0 and result["steady_over_burst"] == 0.75
    assert result["first_slowdown_s"] == 60.0
    assert result["steady_j_per_token"] == pytest.approx(8.0 / 15.0, rel=1e-3)
    assert result["power_source"] == "board_power_w"
    assert "steady_j_per_token" not in steady_state([{"t_s": 0.0, "tps": 5.0}])


def test_sensor_readings_join_the_window_they_fall_in():
    from edgeprof.bench.sustain import Window

    windows = [Window(0.0, 1.0, 0.9, 10), Window(1.0, 1.0, 0.9, 9)]
    readings = [Reading(0.5, "decode", {"cpu_temp_c": 50.0, "gpu_power_w": 5.0}),
                Reading(1.5, "decode", {"cpu_temp_c": 60.0, "gpu_power_w": 7.0, "throttled_now": 1.0})]
    first, second = windows_with_sensors(windows, readings)
    assert (first["cpu_temp_c"], second["cpu_temp_c"], second["throttled_now"]) == (50.0, 60.0, 1.0)
