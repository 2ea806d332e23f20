"""Figures of how decode scales beyond one user and against the memory it reads: parallel sequences
(aggregate and per-user t/s) and the bandwidth roofline (t/s against bytes read per token)."""

from __future__ import annotations

from edgeprof.plot import style
from edgeprof.plot.select import Skip, by_series, median_by, sweep
from edgeprof.results.read import Results, device_line, level_of, settings_line


def parallel(results: Results):
    rows = [r for r in results.speed if r["metrics"].get("tg_tps_mean")]
    rows = sweep([{**r, "settings": {**r["settings"], "n_parallel": r["settings"].get("n_parallel", 1)}}
                  for r in rows], "n_parallel")
    values = [v for v, _ in median_by(rows, "n_parallel", "tg_tps_mean")]
    fig, (total_ax, user_ax) = style.new_figure("Decode with several users at once", ncols=2)
    for series, series_rows in by_series(rows).items():
        total = median_by(series_rows, "n_parallel", "tg_tps_mean")
        total_ax.plot([values.index(v) for v, _ in total], [t for _, t in total], label=series.label,
                      **style.series_style(series))
        per_user = [(v, r["metrics"].get("tg_tps_per_seq_mean") or r["metrics"]["tg_tps_mean"]) for v, r in
                    ((r["settings"]["n_parallel"], r) for r in series_rows)]
        per_user.sort()
        user_ax.plot([values.index(v) for v, _ in per_user], [t for _, t in per_user], label=series.label,
                     **style.series_style(series))
    for ax, name in ((total_ax, "all users together (tokens/s)"), (user_ax, "each user (tokens/s)")):
        ax.set_xticks(range(len(values)), [str(v) for v in values])
        ax.set_xlabel("sequences decoded together")
        ax.set_ylabel(name)
        ax.set_ylim(bottom=0)
    style.legend_outside(user_ax, "level")
    style.caption(fig, f"device: {device_line(results, results.devices)} · {settings_line(rows)} · one token of "
                       "every sequence per llama_decode; per-user t/s = 1 / step time")
    return fig


def roofline(results: Results):
    rows = [r for r in results.speed if r.get("roofline") and r["settings"].get("n_parallel", 1) == 1]
    if not rows:
        raise Skip("no roofline figures: they are recorded for CPU decode and unified-memory boards, where "
                   "decode reads the RAM the bandwidth probe measured")
    fig, (ax,) = style.new_figure("Decode against memory bandwidth")
    per_token = [r["roofline"]["bytes_per_token"] / 1e6 for r in rows]
    bandwidth = max(r["roofline"]["bandwidth_gbs"] for r in rows)
    xs = [min(per_token) * 0.8, max(per_token) * 1.2]
    ax.plot(xs, [bandwidth * 1e3 / x for x in xs], color="0.3", linestyle="--",
            label=f"probed bandwidth {bandwidth:.1f} GB/s")
    for series, series_rows in by_series(rows).items():
        ax.scatter([r["roofline"]["bytes_per_token"] / 1e6 for r in series_rows],
                   [r["metrics"]["tg_tps_mean"] for r in series_rows], label=series.label,
                   color=style.level_color(series.level), edgecolor="0.2", linewidth=0.5, zorder=3)
    best = max(rows, key=lambda r: r["roofline"]["percent_of_bandwidth"])
    ax.set_xlabel("bytes read per generated token (MB: weights + KV at the mean depth)")
    ax.set_ylabel("decode (tokens/s)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    style.legend_outside(ax, "level")
    style.caption(fig, f"device: {device_line(results, results.devices)} · the dashed line is the speed the probed "
                       f"bandwidth allows; highest share reached: {best['roofline']['percent_of_bandwidth']:.0f}% "
                       f"({level_of(best)})")
    return fig
