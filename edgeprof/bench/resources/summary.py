"""Readings -> per-phase statistics, CPU utilisation and energy, each only where it was measured.

- CPU %: from the process's cumulative CPU seconds (``cpu_time_s``) over the real elapsed time. A
  phase's mean is its CPU seconds / its wall seconds; the per-reading values (timeline, maximum) use
  windows of at least ``MIN_CPU_WINDOW_S``, because the kernel counts CPU time in clock ticks (10 ms
  on most Linux builds): over a few milliseconds any percentage is possible. Never above 100 x the
  cores this process may use.
- Energy: from a cumulative counter (``*_energy_j``: NVML, RAPL) where the source has one, else by
  integrating its power (``*_power_w``: tegrastats rails). Sensors refresh at their own pace (NVML's
  energy counter every 20-100 ms): a phase whose stretches are each shorter than that has no energy
  of its own, and is reported as unmeasured with the reason, never as 0.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import replace

from edgeprof.bench.resources.base import Reading

CPU_TIME = "cpu_time_s"
MIN_CPU_WINDOW_S = 0.1
MIN_PERIODS = 5  # sensor updates a phase stretch must span for its energy to be reported


def summarize(readings: list[Reading], cores: int | None = None) -> dict[str, dict[str, float]]:
    """The per-phase statistics alone (see ``summarize_with_gaps``)."""
    return summarize_with_gaps(readings, cores)[0]


def summarize_with_gaps(readings: list[Reading], cores: int | None = None,
                        ) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, str]]]:
    """``{phase: {"<metric>_mean": x, "<metric>_max": y, "<source>_energy_j": z, "seconds": s}}``.

    An interval between two readings belongs to the phase of the earlier one (phase switches
    take a reading at the boundary). Metrics never read are absent; so is energy not measured
    (``unmeasured_energy`` says why).
    """
    readings = with_cpu_percent(readings, cores)
    values: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    previous_phase = readings[0].phase if readings else "idle"
    for r in readings:
        for key, value in r.values.items():
            if key.endswith("_energy_j") or key == CPU_TIME:
                continue
            # *_percent readings average the interval since the previous reading: that interval
            # belongs to the previous reading's phase. Other metrics are instantaneous.
            values[previous_phase if key.endswith("_percent") else r.phase][key].append(value)
        previous_phase = r.phase
    out: dict[str, dict[str, float]] = {}
    for phase, metrics in values.items():
        out[phase] = {}
        for key, series in metrics.items():
            out[phase][f"{key}_mean"] = sum(series) / len(series)
            out[phase][f"{key}_max"] = max(series)
            if "available" in key:  # free memory: its low point is what a peak of use means
                out[phase][f"{key}_min"] = min(series)
    for phase, seconds in _seconds(readings).items():
        out.setdefault(phase, {})["seconds"] = seconds
    for phase, mean in _cpu_means(readings, cores).items():
        out[phase]["cpu_percent_mean"] = mean
    energy, gaps = _energy(readings)
    for phase, per_source in energy.items():
        out.setdefault(phase, {}).update(per_source)
    return out, gaps


def unmeasured_energy(readings: list[Reading]) -> dict[str, dict[str, str]]:
    """``{phase: {"<source>_energy_j": why}}`` for every phase whose energy a source could not give."""
    return _energy(readings)[1]


# --- CPU ---------------------------------------------------------------------------------------------

def _core_limit(cores: int | None) -> float:
    from edgeprof.paths import all_cores

    return 100.0 * (cores or all_cores())


def with_cpu_percent(readings: list[Reading], cores: int | None = None) -> list[Reading]:
    """The readings with ``cpu_percent`` (100 = one core busy) derived from ``cpu_time_s``: each over
    the window back to the latest earlier reading at least MIN_CPU_WINDOW_S before it."""
    limit = _core_limit(cores)
    out, start = [], 0
    for i, r in enumerate(readings):
        if CPU_TIME not in r.values:
            out.append(r)
            continue
        while start + 1 < i and r.t - readings[start + 1].t >= MIN_CPU_WINDOW_S:
            start += 1
        before = readings[start]
        dt = r.t - before.t
        if i == 0 or CPU_TIME not in before.values or dt <= 0:
            out.append(r)
            continue
        percent = 100.0 * (r.values[CPU_TIME] - before.values[CPU_TIME]) / dt
        out.append(replace(r, values={**r.values, "cpu_percent": min(limit, max(0.0, percent))}))
    return out


def _cpu_means(readings: list[Reading], cores: int | None) -> dict[str, float]:
    """Per phase: CPU seconds / wall seconds, from the counter's deltas (exact up to clock ticks)."""
    cpu: dict[str, float] = defaultdict(float)
    wall: dict[str, float] = defaultdict(float)
    for before, after in zip(readings, readings[1:]):
        if CPU_TIME in before.values and CPU_TIME in after.values and after.t > before.t:
            cpu[before.phase] += after.values[CPU_TIME] - before.values[CPU_TIME]
            wall[before.phase] += after.t - before.t
    limit = _core_limit(cores)
    return {phase: min(limit, max(0.0, 100.0 * cpu[phase] / wall[phase])) for phase in wall if wall[phase] > 0}


# --- time and energy ---------------------------------------------------------------------------------

def _seconds(readings: list[Reading]) -> dict[str, float]:
    seconds: dict[str, float] = defaultdict(float)
    for before, after in zip(readings, readings[1:]):
        seconds[before.phase] += after.t - before.t
    return dict(seconds)


def _stretches(readings: list[Reading]) -> dict[str, list[tuple[float, float]]]:
    """Each phase's contiguous stretches of time, (start, end)."""
    out: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for before, after in zip(readings, readings[1:]):
        spans = out[before.phase]
        if spans and spans[-1][1] == before.t:
            spans[-1] = (spans[-1][0], after.t)
        else:
            spans.append((before.t, after.t))
    return out


def _sources(readings: list[Reading]) -> tuple[set[str], set[str]]:
    """(energy counters, power readings without a counter), as their ``*_energy_j`` names."""
    counters = {k for r in readings for k in r.values if k.endswith("_energy_j")}
    powered = {k.removesuffix("_power_w") + "_energy_j" for r in readings for k in r.values if k.endswith("_power_w")}
    return counters, powered - counters


def _changes(readings: list[Reading], key: str) -> list[tuple[float, float]]:
    """(time, value) of each reading where ``key``'s value differs from the reading before."""
    points, last = [], None
    for r in readings:
        value = r.values.get(key)
        if value is not None and value != last:
            if last is not None:
                points.append((r.t, value))
            last = value
    return points


def _update_period(points: list[tuple[float, float]]) -> float | None:
    gaps = [b[0] - a[0] for a, b in zip(points, points[1:])]
    return statistics.median(gaps) if gaps else None


def _energy(readings: list[Reading]) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, str]]]:
    energy: dict[str, dict[str, float]] = defaultdict(dict)
    why: dict[str, dict[str, str]] = defaultdict(dict)
    if len(readings) < 2:
        return {}, {}
    stretches = _stretches(readings)
    counters, powered = _sources(readings)
    for key in counters | powered:
        power_key = key.removesuffix("_energy_j") + "_power_w"
        points = _changes(readings, key if key in counters else power_key)
        period = _update_period(points)
        for phase, spans in stretches.items():
            if key in counters:
                joules, reason = _from_counter(points, spans, period)
            else:
                joules, reason = _from_power(readings, power_key, phase, spans, period)
            if reason:
                why[phase][key] = reason
            else:
                energy[phase][key] = joules
    return dict(energy), dict(why)


def _too_short(spans: list[tuple[float, float]], period: float | None) -> str | None:
    """Between two updates the energy is spread evenly, so each end of a stretch may take up to about a
    quarter period's worth of a neighbouring phase: stretches of MIN_PERIODS periods keep that within
    ~10% even against an idle neighbour drawing half the power."""
    shortest = min(end - start for start, end in spans)
    if period is not None and shortest < MIN_PERIODS * period:
        return (f"stretches of this phase as short as {1000 * shortest:.0f} ms; the sensor updates every "
                f"~{1000 * period:.0f} ms and a figure within ~10% needs {MIN_PERIODS} updates per stretch "
                "(longer prompts or generations give one)")
    return None


def _from_counter(points: list[tuple[float, float]], spans: list[tuple[float, float]],
                  period: float | None) -> tuple[float, str | None]:
    """Energy from a cumulative counter known at the times it changed, linear in between."""
    if len(points) < 2:
        return 0.0, "the energy counter did not advance during the cell"
    if reason := _too_short(spans, period):
        return 0.0, reason
    first, last = points[0][0], points[-1][0]
    if any(start < first or end > last for start, end in spans):
        return 0.0, "part of this phase lies before the counter's first or after its last update"
    return sum(_at(points, end) - _at(points, start) for start, end in spans), None


def _at(points: list[tuple[float, float]], t: float) -> float:
    for (t0, v0), (t1, v1) in zip(points, points[1:]):
        if t0 <= t <= t1:
            return v0 + (v1 - v0) * (t - t0) / (t1 - t0)
    return points[-1][1]


def _from_power(readings: list[Reading], power_key: str, phase: str, spans: list[tuple[float, float]],
                period: float | None) -> tuple[float, str | None]:
    """Energy by integrating power readings (trapezoids) over the phase's intervals."""
    if reason := _too_short(spans, period):
        return 0.0, reason
    joules = sum(0.5 * (a.values[power_key] + b.values[power_key]) * (b.t - a.t)
                 for a, b in zip(readings, readings[1:])
                 if a.phase == phase and power_key in a.values and power_key in b.values)
    return joules, None


def timeline(readings: list[Reading], max_points: int = 400, cores: int | None = None) -> dict:
    """The readings as columns (``t``, ``phase`` and one list per metric, None where a reading
    lacks it), thinned evenly to at most ``max_points`` so a row stays small. Phase boundaries
    are always kept: the plot shades prefill and decode from them."""
    if not readings:
        return {}
    keep = _thin(with_cpu_percent(readings, cores), max_points)
    metrics = sorted({k for r in keep for k in r.values if not k.endswith("_energy_j") and k != CPU_TIME})
    return {"t": [round(r.t, 4) for r in keep], "phase": [r.phase for r in keep],
            "values": {k: [None if k not in r.values else round(r.values[k], 3) for r in keep] for k in metrics}}


def _thin(readings: list[Reading], max_points: int) -> list[Reading]:
    boundaries = {i for i in range(1, len(readings)) if readings[i].phase != readings[i - 1].phase}
    step = max(1, -(-len(readings) // max_points))
    return [r for i, r in enumerate(readings) if i % step == 0 or i in boundaries or i == len(readings) - 1]
