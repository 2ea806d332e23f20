"""Figures of what edge boards do over minutes: sustained decode speed beside temperature, with the
windows where a clock was cut (a throttle flag) shaded."""

from __future__ import annotations

from edgeprof.plot import style
from edgeprof.plot.select import Skip
from edgeprof.results.read import Results, device_line, level_of, model_of

TEMPERATURE_KEYS = ("soc_temp_c", "cpu_temp_c", "gpu_temp_c", "temp_c")


def sustained(results: Results):
    rows = [r for r in results.of_kind("sustain") if r.get("status") == "ok" and r.get("windows")]
    if not rows:
        raise Skip("no sustained runs (bench --sustain SECONDS)")
    fig, (ax,) = style.new_figure("Sustained decode: t/s per window, and temperature")
    keys = {id(r): _temperature_key(r["windows"]) for r in rows}
    hot = ax.twinx() if any(keys.values()) else None
    for i, row in enumerate(rows):
        windows, settings = row["windows"], row["settings"]
        ngl = settings.get("n_gpu_layers")
        label = (f"{model_of(row)} {level_of(row)} · ngl {'all' if ngl == -1 else ngl}"
                 + (f" · {settings['load_mode']} load" if settings.get("load_mode") else ""))
        times = [w["t_s"] - windows[0]["t_s"] for w in windows]
        color = f"C{i % 10}"  # one colour per run: runs of one level differ by settings here
        ax.plot(times, [w["tps"] for w in windows], marker="os^Dv"[i % 5], markersize=3, color=color, label=label)
        key = keys[id(row)]
        if hot is not None and key:
            hot.plot(times, [w.get(key) for w in windows], linestyle="--", color=color, alpha=0.6)
        for t, w in zip(times, windows):
            if any(v for k, v in w.items() if "throttl" in k):
                ax.axvspan(t, t + row["settings"].get("sustain_window_s", 10), color="#e76f51", alpha=0.15, lw=0)
    ax.set_xlabel("seconds of decode")
    ax.set_ylabel("decode t/s (solid)")
    if hot is not None:
        hot.set_ylabel("temperature °C (dashed)")
    ax.set_ylim(bottom=0)
    style.legend_outside(ax, x=1.12)
    style.caption(fig, f"device: {device_line(results, results.devices)} · each point is one window's tokens / its "
                       "decode time; red bands: a throttle flag was raised in that window; "
                       + ("temperature: the SoC's, else the CPU's or GPU's sensor, mean over the window" if hot else
                          "no temperature sensor was read"))
    return fig


def _temperature_key(windows: list[dict]) -> str | None:
    present = {k for w in windows for k in w}
    named = next((k for k in TEMPERATURE_KEYS if k in present), None)
    return named or next((k for k in sorted(present) if k.endswith("_temp_c")), None)
