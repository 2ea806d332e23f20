"""Figures of speed: latency vs prompt length, per-token latency, thread and GPU-layer scaling,
devices side by side. Each takes the rows it shows and returns a matplotlib figure."""

from __future__ import annotations

import statistics

from edgeprof.plot import style
from edgeprof.plot.select import Skip, by_series, median_by, one_run, per_series, sweep
from edgeprof.results.read import Results, device_of, level_of, reference_rows, settings_line, timeline_of


def _caption(results: Results, rows: list[dict], extra: str = "") -> str:
    from edgeprof.results.read import device_line

    devices = list(dict.fromkeys(device_of(r) for r in rows))
    models = ", ".join(dict.fromkeys(r["model"].get("name", "?") for r in rows))
    return f"device: {device_line(results, devices)} · model: {models} · {settings_line(rows)}{extra}"


def latency_vs_prompt(results: Results):
    """TTFT (what a user waits for) and prefill throughput against prompt length. Not TTFT beside
    prefill latency: they differ by one sampling step, so that pair drew the same curve twice."""
    rows = reference_rows(results.speed)
    if not rows:
        raise Skip("no speed rows")
    fig, (ttft, prefill) = style.new_figure("TTFT and prefill throughput vs prompt length", ncols=2)
    for series, series_rows in by_series(rows).items():
        for ax, metric in ((ttft, "ttft_ms_mean"), (prefill, "pp_tps_mean")):
            points = median_by(series_rows, "n_prompt", metric)
            ax.plot([p for p, _ in points], [v for _, v in points], label=series.label, **style.series_style(series))
    for ax, name in ((ttft, "TTFT (ms)"), (prefill, "prefill (tokens/s)")):
        ax.set_xlabel("prompt length (tokens)")
        ax.set_ylabel(name)
    prefill.set_ylim(bottom=0)
    style.legend_outside(prefill, "level")
    style.caption(fig, _caption(results, rows, f" · TTFT = prefill + first token's sampling{_sampling(rows)}"
                                               " · mean of repetitions"))
    return fig


def _sampling(rows: list[dict]) -> str:
    """How much of TTFT is not prefill, measured: the reason prefill latency gets no panel of its own."""
    gaps = [r["metrics"]["ttft_ms_mean"] - r["metrics"]["prefill_ms_mean"] for r in rows
            if r["metrics"].get("ttft_ms_mean") is not None and r["metrics"].get("prefill_ms_mean") is not None]
    return f" (median {statistics.median(gaps):.2f} ms here)" if gaps else ""


def token_latency(results: Results):
    rows = reference_rows(results.speed)
    if not rows:
        raise Skip("no speed rows")
    fig, (box_ax, line_ax) = style.new_figure("Per-token decode latency", ncols=2)
    shown = per_series(rows)
    data = [row["metrics"].get("token_latencies_ms") or [float("nan")] for row in shown.values()]
    parts = box_ax.boxplot(data, showfliers=True, patch_artist=True, widths=0.6)
    for patch, series in zip(parts["boxes"], shown):
        patch.set(facecolor="none" if series.synthetic else style.level_color(series.level),
                  edgecolor=style.level_color(series.level), alpha=0.75)
    box_ax.set_xticks(range(1, len(shown) + 1), [s.label for s in shown], rotation=45, ha="right")
    box_ax.set_ylabel("decode step latency (ms)")
    box_ax.set_title("all decode steps, per level", fontsize=9)
    run = one_run(rows)
    steps = timeline_of(run)
    level = level_of(run)
    line_ax.plot(range(1, len(steps) + 1), steps, label=f"{level}, repetition 1", **style.marker_style(level),
                 markersize=2, linewidth=1)
    line_ax.set_xlabel("generated token")
    line_ax.set_ylabel("decode step latency (ms)")
    line_ax.set_title(f"one run: {level}, prompt {run['settings'].get('n_prompt')} tokens", fontsize=9)
    style.legend_outside(line_ax)
    style.caption(fig, _caption(results, rows, " · boxes: median, quartiles, 1.5 IQR whiskers"))
    return fig


def _scaling(results: Results, key: str, title: str, xlabel: str):
    rows = sweep(results.speed, key)
    values = [v for v, _ in median_by(rows, key, "tg_tps_mean")]  # every swept value, in order
    fig, (tg_ax, pp_ax) = style.new_figure(title, ncols=2)
    for series, series_rows in by_series(rows).items():
        for ax, metric in ((tg_ax, "tg_tps_mean"), (pp_ax, "pp_tps_mean")):
            points = median_by(series_rows, key, metric)
            ax.plot([values.index(v) for v, _ in points], [v for _, v in points], label=series.label,
                    **style.series_style(series))
    tg_ax.set_ylabel("decode (tokens/s)")
    pp_ax.set_ylabel("prefill (tokens/s)")
    for ax in (tg_ax, pp_ax):  # evenly spaced ticks: 1,2,4,8 threads or 0,8,16,all layers
        ax.set_xticks(range(len(values)), [_setting_label(key, v) for v in values])
        ax.set_xlabel(xlabel)
        ax.set_ylim(bottom=0)
    style.legend_outside(pp_ax, "level")
    style.caption(fig, _caption(results, rows, " · median over prompt lengths of the mean of repetitions"))
    return fig


def _setting_label(key: str, value) -> str:
    return "all" if key == "n_gpu_layers" and value == -1 else str(value)


def threads(results: Results):
    return _scaling(results, "n_threads", "Speed vs CPU threads", "threads")


def gpu_layers(results: Results):
    return _scaling(results, "n_gpu_layers", "Speed vs layers offloaded to the GPU", "n_gpu_layers")


def devices(results: Results):
    """Decode t/s and TTFT per level, one bar per device."""
    import numpy as np

    if len(results.devices) < 2:
        raise Skip("results of one device only; give --results once per device to compare devices")
    per_device = {d: {k.label: row for k, row in per_series(reference_rows([r for r in results.speed
                                                                             if device_of(r) == d])).items()}
                  for d in results.devices}
    keys = {k.label: k for k in per_series(results.speed)}  # every model file, in figure order
    levels = list(keys)
    fig, axes = style.new_figure("The same levels across devices", ncols=2)
    width = 0.8 / len(per_device)
    for i, (_device, levels_rows) in enumerate(per_device.items()):
        for ax, metric in zip(axes, ("tg_tps_mean", "ttft_ms_mean")):
            values = [levels_rows[lv]["metrics"].get(metric) if lv in levels_rows else None for lv in levels]
            xs = np.arange(len(levels)) + (i - (len(per_device) - 1) / 2) * width
            ax.bar(xs, [np.nan if v is None else v for v in values], width,
                   color=[style.level_color(keys[lv].level) for lv in levels], hatch=style.DEVICE_HATCHES[i % 6],
                   edgecolor="0.2", linewidth=0.5)
    for ax, name in zip(axes, ("decode (tokens/s)", "TTFT (ms)")):
        ax.set_xticks(range(len(levels)), levels, rotation=45, ha="right")
        ax.set_ylabel(name)
        ax.set_xlabel("level")
    style.hatch_legend(axes[1], [(device, style.DEVICE_HATCHES[i % 6]) for i, device in enumerate(per_device)],
                       "device (hatching)")
    shown = [r for d in results.devices for r in reference_rows([x for x in results.speed if device_of(x) == d])]
    style.caption(fig, _caption(results, shown, " · each device's reference settings; colours: level"))
    return fig
