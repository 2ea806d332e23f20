"""Sustained decode: boards throttle after minutes of load, so short cells show burst speed only.
``run_sustained`` decodes without pause for a set time (refilling the context when it is full) and
cuts the run into windows; ``windows_with_sensors`` puts each window's temperature, clock, power
and throttle flags beside its t/s; ``steady_state`` says what a user gets after the first minutes.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

from edgeprof.bench.engine import Context
from edgeprof.bench.measure import Repetition, greedy

THROTTLE_DROP = 0.9  # a window below 90% of the first one counts as slowed down
# Whole-device power first (it includes the others), then the GPU alone.
POWER_SOURCES = ("board_power_w", "pi_pmic_power_w", "hwmon_power_w", "gpu_power_w")


@dataclass
class Window:
    start_s: float  # on the monitor's clock (its readings' t), so sensors line up
    wall_s: float
    decode_s: float
    tokens: int

    @property
    def tps(self) -> float:
        return self.tokens / self.decode_s if self.decode_s > 0 else 0.0


def run_sustained(ctx: Context, prompt: list[int], seconds: float, window_s: float, monitor=None,
                  ) -> tuple[Repetition, list[Window]]:
    """Decode for ``seconds`` (after prefilling ``prompt``), in windows of ``window_s``. When the context
    is full it is cleared and the prompt prefilled again (untimed, outside the windows' decode time)."""
    rep, windows = Repetition(), []
    limit = ctx.settings.n_ctx - 1
    token, pos = _refill(ctx, prompt)
    offset = _monitor_offset(monitor, "decode")
    started = time.perf_counter()
    window = Window(started - offset, 0.0, 0.0, 0)
    while time.perf_counter() - started < seconds:
        if pos >= limit:
            token, pos = _refill(ctx, prompt)
        step = ctx.decode_one(token, pos)
        rep.decode_ns.append(step)
        window.decode_s += step / 1e9
        window.tokens += 1
        pos += 1
        token = greedy(ctx)
        now = time.perf_counter()
        if now - offset - window.start_s >= window_s:
            window.wall_s = now - offset - window.start_s
            windows.append(window)
            window = Window(now - offset, 0.0, 0.0, 0)
    rep.tokens_generated = len(rep.decode_ns)
    rep.total_ns = int((time.perf_counter() - started) * 1e9)
    if monitor is not None:
        monitor.mark("idle")
    return rep, windows


def _monitor_offset(monitor, phase: str) -> float:
    """perf_counter() minus the monitor's clock: the reading a phase mark takes is stamped with it."""
    if monitor is None:
        return 0.0
    monitor.mark(phase)
    now = time.perf_counter()
    return now - monitor.readings[-1].t if monitor.readings else 0.0


def _refill(ctx: Context, prompt: list[int]) -> tuple[int, int]:
    ctx.clear()
    ctx.prefill(prompt, 0)
    return greedy(ctx), len(prompt)


def windows_with_sensors(windows: list[Window], readings) -> list[dict]:
    """Each window's t/s beside the mean of every sensor reading taken inside it (throttle flags: max)."""
    out = []
    for w in windows:
        inside = [r.values for r in readings if w.start_s <= r.t < w.start_s + w.wall_s]
        row = {"t_s": round(w.start_s, 2), "tps": round(w.tps, 2), "tokens": w.tokens}
        for key in sorted({k for values in inside for k in values}):
            series = [v[key] for v in inside if key in v]
            if key.endswith(("_temp_c", "_mhz", "_power_w", "temp_c")):
                row[key] = round(statistics.fmean(series), 2)
            elif "throttl" in key:
                row[key] = max(series)
        out.append(row)
    return out


def steady_state(windows: list[dict], idle_w: dict[str, float] | None = None) -> dict:
    """Burst (first window) vs steady state (median of the last third), when it first slowed down or
    a throttle flag rose, and steady-state J/token where power was read (and above the idle draw
    ``idle_w``, {source: watts}, where that was read)."""
    if not windows:
        return {}
    burst = windows[0]["tps"]
    tail = windows[-max(1, len(windows) // 3):]
    steady = statistics.median(w["tps"] for w in tail)
    slowed = next((w["t_s"] - windows[0]["t_s"] for w in windows
                   if w["tps"] < THROTTLE_DROP * burst or any(w.get(k) for k in w if "throttl" in k)), None)
    out = {"burst_tps": burst, "steady_tps": round(steady, 2), "steady_over_burst": round(steady / burst, 3)
           if burst else None, "first_slowdown_s": None if slowed is None else round(slowed, 1)}
    source = next((k for k in POWER_SOURCES if all(k in w for w in tail)), None)
    if steady and source:
        watts = statistics.fmean(w[source] for w in tail)
        out["steady_j_per_token"] = round(watts / steady, 4)
        out["power_source"] = source
        idle = (idle_w or {}).get(source.removesuffix("_power_w"))
        if idle is not None and watts >= idle:
            out["steady_net_j_per_token"] = round((watts - idle) / steady, 4)
    return out
