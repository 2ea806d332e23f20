"""Readings -> per-phase statistics and energy."""

from __future__ import annotations

from collections import defaultdict

from edgeprof.bench.resources.base import Reading


def summarize(readings: list[Reading]) -> dict[str, dict[str, float]]:
    """``{phase: {"<metric>_mean": x, "<metric>_max": y, "<source>_energy_j": z, "seconds": s}}``.

    An interval between two readings belongs to the phase of the earlier one (phase switches
    take a reading at the boundary). Energy comes from a cumulative counter where the source has
    one, otherwise from integrating its power; metrics never read are absent.
    """
    values: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    previous_phase = readings[0].phase if readings else "idle"
    for r in readings:
        for key, value in r.values.items():
            if key.endswith("_energy_j"):
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
    for phase, extra in _energy_and_time(readings).items():
        out.setdefault(phase, {}).update(extra)
    return out


def _energy_and_time(readings: list[Reading]) -> dict[str, dict[str, float]]:
    totals: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for before, after in zip(readings, readings[1:]):
        dt = after.t - before.t
        phase = totals[before.phase]
        phase["seconds"] += dt
        counters = {k for k in before.values if k.endswith("_energy_j") and k in after.values}
        for key in counters:
            phase[key] += max(0.0, after.values[key] - before.values[key])
        for key, watts in before.values.items():
            if key.endswith("_power_w"):
                energy_key = key.removesuffix("_power_w") + "_energy_j"
                if energy_key not in counters and key in after.values:
                    phase[energy_key] += 0.5 * (watts + after.values[key]) * dt
    return {phase: dict(v) for phase, v in totals.items()}


def timeline(readings: list[Reading], max_points: int = 400) -> dict:
    """The readings as columns (``t``, ``phase`` and one list per metric, None where a reading
    lacks it), thinned evenly to at most ``max_points`` so a row stays small. Phase boundaries
    are always kept: the plot shades prefill and decode from them."""
    if not readings:
        return {}
    keep = _thin(readings, max_points)
    metrics = sorted({k for r in keep for k in r.values if not k.endswith("_energy_j")})
    return {"t": [round(r.t, 4) for r in keep], "phase": [r.phase for r in keep],
            "values": {k: [None if k not in r.values else round(r.values[k], 3) for r in keep] for k in metrics}}


def _thin(readings: list[Reading], max_points: int) -> list[Reading]:
    boundaries = {i for i in range(1, len(readings)) if readings[i].phase != readings[i - 1].phase}
    step = max(1, -(-len(readings) // max_points))
    return [r for i, r in enumerate(readings) if i % step == 0 or i in boundaries or i == len(readings) - 1]
