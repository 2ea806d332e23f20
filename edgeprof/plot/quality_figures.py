"""Figures of quality: accuracy and KLD against file size, and decode speed against quality with
the Pareto frontier."""

from __future__ import annotations

from collections import defaultdict

from edgeprof.plot import style
from edgeprof.plot.quality import accuracy_by_file, file_key, files, kld_by_file, pareto_front
from edgeprof.plot.select import Skip, per_series
from edgeprof.results.read import Results, device_line, device_of, reference_rows, settings_line


def quality_vs_size(results: Results):
    """Left: task accuracy, right: KLD against the F16 baseline, both against file size."""
    described, klds, accs = files(results), kld_by_file(results), accuracy_by_file(results)
    if not klds and not accs:
        raise Skip("no accuracy or perplexity rows; run bench --tasks/--ppl")
    fig, (acc_ax, kld_ax) = style.new_figure("Quality vs file size", ncols=2)
    series = defaultdict(list)  # (panel, model, task) -> [(size, value, level, synthetic)]
    for key, model in described.items():
        point = (model["size_bytes"] / 1e6, model.get("level") or "?", model.get("synthetic", False))
        for task, acc in accs.get(key, {}).items():
            series[("acc", model.get("name"), f"{task} {acc.metric}")].append((point, acc.value))
        if (kld := klds.get(key, {}).get("kld_mean")) is not None:
            series[("kld", model.get("name"), "KLD")].append((point, kld))
    for i, ((panel, name, what), points) in enumerate(sorted(series.items())):
        _quality_line(acc_ax if panel == "acc" else kld_ax, sorted(points), f"{name}: {what}",
                      style.LINE_STYLES[i % len(style.LINE_STYLES)])
    acc_ax.set_ylabel("accuracy (fraction correct)")
    kld_ax.set_ylabel("KL divergence vs F16 (nats/token, mean)")
    for ax, empty in ((acc_ax, not accs), (kld_ax, not klds)):
        ax.set_xlabel("file size (MB)")
        if empty:
            ax.text(0.5, 0.5, "not measured", transform=ax.transAxes, ha="center", color="0.5")
    style.legend_outside(kld_ax if klds else acc_ax, "model: metric")
    models = ", ".join(sorted({m.get("name", "?") for m in described.values()}))
    style.caption(fig, f"models: {models} · points labelled by level and bits per weight · accuracy = "
                       f"{_tasks_caption(results)} · KLD from the perplexity rows · measured on "
                       f"{', '.join(results.devices)}")
    return fig


def _quality_line(ax, points: list, label: str, linestyle: str) -> None:
    xs = [p[0][0] for p in points]
    ax.plot(xs, [p[1] for p in points], linestyle=linestyle, color="0.35", linewidth=1, label=label, zorder=1)
    for (size, level, synthetic), value in points:
        ax.plot([size], [value], linestyle="none", zorder=2, **style.marker_style(level, synthetic))
        ax.annotate(level, (size, value), textcoords="offset points", xytext=(4, 4), fontsize=7)


def _tasks_caption(results: Results) -> str:
    tasks = {}
    for row in results.of_kind("task"):
        metrics = row["metrics"]
        tasks[row["task"]["name"]] = (f"{row['task']['name']} (n={metrics.get('n')}, "
                                      f"shots {row['task'].get('shots', 0)})")
    return "; ".join(tasks.values()) or "none"


def speed_vs_quality(results: Results):
    """Decode t/s against KLD (or, without KLD, against accuracy); the frontier labelled by level."""
    klds, accs = kld_by_file(results), accuracy_by_file(results)
    quality, xlabel, lower_is_better = _quality_axis(klds, accs)
    fig, (ax,) = style.new_figure("Decode speed vs quality")
    drawn = 0
    for d, device in enumerate(results.devices):
        ref = reference_rows([r for r in results.speed if device_of(r) == device])
        points = []
        for series, row in per_series(ref).items():
            q, speed = quality.get(file_key(row)), row["metrics"].get("tg_tps_mean")
            if q is None or speed is None:
                continue
            marker = style.MARKERS[d % len(style.MARKERS)] if len(results.devices) > 1 else None
            ax.plot([q], [speed], markersize=7,
                    label=series.label + (f" · {device}" if len(results.devices) > 1 else ""),
                    **{**style.series_style(series, marker), "linestyle": "none"})
            points.append((q if lower_is_better else -q, speed, series.label))
        if points:
            drawn += 1
            _frontier(ax, points, lower_is_better, device)
    if not drawn:
        raise Skip("no level has both a decode speed and a quality number recorded")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("decode (tokens/s)")
    if lower_is_better and any(v > 0 for v in quality.values()):
        ax.set_xscale("symlog", linthresh=1e-3)
    style.legend_outside(ax, "level")
    style.caption(fig, f"device: {device_line(results, results.devices)} · "
                       f"{settings_line(reference_rows(results.speed))}"
                       " · per level: the cell with the longest prompt · frontier: levels no other level beats on "
                       "both speed and quality")
    return fig


def _quality_axis(klds: dict, accs: dict):
    with_kld = {k: m["kld_mean"] for k, m in klds.items() if m.get("kld_mean") is not None}
    if with_kld:
        return with_kld, "KL divergence vs F16 (nats/token, mean; F16 = 0)", True
    tasks = sorted({t for per in accs.values() for t in per})
    if not tasks:
        raise Skip("no KLD or accuracy rows to put speed against; run bench --ppl/--tasks")
    task = tasks[0]
    scores = {k: per[task].value for k, per in accs.items() if task in per}
    metric = next(iter(per[task].metric for per in accs.values() if task in per))
    return scores, f"{task} {metric} (fraction correct)", False


def _frontier(ax, points: list[tuple[float, float, str]], lower_is_better: bool, device: str) -> None:
    front = [points[i] for i in pareto_front([(x, y) for x, y, _ in points])]
    xs = [x if lower_is_better else -x for x, _, _ in front]
    ax.plot(xs, [y for _, y, _ in front], color="0.2", linestyle="--", linewidth=1, label=f"Pareto frontier · {device}",
            zorder=0)
    for (_x, y, level), shown_x in zip(front, xs):
        ax.annotate(level, (shown_x, y), textcoords="offset points", xytext=(5, 5), fontsize=8, fontweight="bold")
