"""Figures of resources: memory per level beside the guard's estimate, and CPU/GPU utilisation
and power over one run with the prefill and decode phases shaded."""

from __future__ import annotations

import numpy as np

from edgeprof.plot import style
from edgeprof.plot.select import Skip, by_series, one_run
from edgeprof.results.read import Results, device_line, device_of, level_of, reference_rows, settings_line

# (row key under "memory", bar label, hatch): measured beside estimated, RAM then VRAM.
MEMORY_BARS = (("peak_rss_mb", "peak RSS (measured)", ""), ("estimate_total_rss_mb", "RSS estimate", "//"),
               ("peak_gpu_mem_used_mb", "peak VRAM (measured, whole GPU)", ".."),
               ("estimate_vram_mb", "VRAM estimate", "xx"))
PHASE_COLORS = {"prefill": "#f4a261", "decode": "#8ecae6", "load": "#cccccc"}
# Utilisation lines, by reading name suffix: percent metrics on the top axis, watts below.
PERCENT_METRICS = {"cpu_percent": "CPU (% of one core)", "gpu_util_percent": "GPU utilisation (%)",
                   "gpu_mem_util_percent": "GPU memory bandwidth (%)"}


def memory(results: Results):
    rows = reference_rows(results.speed)
    levels = {series.label: (series, series_rows) for series, series_rows in by_series(rows).items()}
    bars = [(key, label, hatch) for key, label, hatch in MEMORY_BARS
            if any((r.get("memory") or {}).get(key) for r in rows)]
    if not bars:
        raise Skip("no memory readings in the speed rows")
    fig, (ax,) = style.new_figure("Memory per level: measured beside the estimate")
    width = 0.8 / len(bars)
    for i, (key, label, hatch) in enumerate(bars):
        values = [max(((r.get("memory") or {}).get(key) or 0 for r in lr), default=0) or np.nan
                  for _, lr in levels.values()]
        xs = np.arange(len(levels)) + (i - (len(bars) - 1) / 2) * width
        ax.bar(xs, values, width, label=label, color=[style.level_color(s.level) for s, _ in levels.values()],
               hatch=hatch,
               edgecolor="0.2", linewidth=0.5, alpha=1.0 if i % 2 == 0 else 0.55)
    ax.set_xticks(range(len(levels)), list(levels), rotation=45, ha="right")
    ax.set_ylabel("memory (MiB)")
    ax.set_xlabel("level")
    style.hatch_legend(ax, [(label, hatch) for _, label, hatch in bars])
    style.caption(fig, f"device: {device_line(results, results.devices)} · {settings_line(rows)} · RSS includes "
                       "Python and the libraries (the estimate adds the baseline measured before loading); VRAM "
                       "is the GPU's whole used memory")
    return fig


def utilisation(results: Results):
    run = one_run(results.speed)
    timeline = run.get("timeline") or {}
    if not timeline.get("t"):
        raise Skip("the speed rows carry no resource timeline (recorded by an older edgeprof)")
    t = np.array(timeline["t"])
    values = timeline["values"]
    power = sorted(k for k in values if k.endswith("_power_w") and _has(values[k]))
    percents = [k for k in PERCENT_METRICS if _has(values.get(k))]
    if not power and not percents:
        raise Skip("no utilisation or power sensor was read")
    reps = run["settings"].get("repetitions")
    fig, axes = style.new_figure(f"Utilisation and power over one cell ({level_of(run)}, {reps} repetitions)",
                                 height=5.0)
    top = axes[0]
    for key in percents:
        top.plot(t, _floats(values[key]), label=PERCENT_METRICS[key], linewidth=1.2)
    top.set_ylabel("utilisation (%)")
    top.set_xlabel("time since the cell started (s)")
    missing = []
    if power:
        right = top.twinx()
        for key in power:
            right.plot(t, _floats(values[key]), linestyle="--", linewidth=1.2,
                       label=key.removesuffix("_power_w").replace("_", " ") + " power (W)")
        right.set_ylabel("power (W)")
        style.legend_outside(top, also=(right,), x=1.1)
    else:
        missing.append("no power sensor")
        style.legend_outside(top)
    _shade_phases(top, t, timeline["phase"])
    style.caption(fig, f"device: {device_line(results, [device_of(run)])} · model: {run['model'].get('file')} · "
                       f"{settings_line([run])} · shaded: prefill (orange), decode (blue); unshaded: warmup and "
                       "between repetitions"
                       f"{' · ' + ', '.join(missing) if missing else ''}")
    return fig


def _has(series) -> bool:
    return bool(series) and any(v is not None for v in series)


def _floats(series) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in series], dtype=float)


def _shade_phases(ax, t: np.ndarray, phases: list[str]) -> None:
    """One span per stretch of readings in the same phase (a stretch ends at the next reading)."""
    start = 0
    for i in range(1, len(phases) + 1):
        if i == len(phases) or phases[i] != phases[start]:
            color = PHASE_COLORS.get(phases[start])
            if color and i < len(t):
                ax.axvspan(t[start], t[i], color=color, alpha=0.3, linewidth=0)
            start = i
