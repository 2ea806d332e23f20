"""Figures of quality: accuracy and KLD against file size, and decode speed against quality with
the Pareto frontier."""

from __future__ import annotations

from collections import defaultdict

from edgeprof.plot import style
from edgeprof.plot.noise import interval95, is_smoke_test, verdicts
from edgeprof.plot.quality import accuracy_by_file, file_key, files, kld_by_file, pareto_front, task_rows
from edgeprof.plot.select import Skip, per_series
from edgeprof.results.read import Results, device_line, device_of, reference_rows, settings_line


def quality_vs_size(results: Results):
    """Left: task accuracy with 95% intervals, right: KLD against the F16 baseline, both against
    file size; one legend for both panels."""
    described, klds, accs = files(results), kld_by_file(results), accuracy_by_file(results)
    if not klds and not accs:
        raise Skip("no accuracy or perplexity rows; run bench --tasks/--ppl")
    fig, (acc_ax, kld_ax) = style.new_figure("Quality vs file size", ncols=2)
    series = defaultdict(list)  # (panel, model, metric) -> [((size, level, synthetic), value, interval)]
    for key, model in described.items():
        point = (model["size_bytes"] / 1e6, model.get("level") or "?", model.get("synthetic", False))
        for task, acc in accs.get(key, {}).items():
            series[("acc", model.get("name"), f"{task} {acc.metric}")].append((point, acc.value,
                                                                               interval95(acc.value, acc.n)))
        if (kld := klds.get(key, {}).get("kld_mean")) is not None:
            series[("kld", model.get("name"), "KLD")].append((point, kld, None))
    labels = []
    for i, ((panel, name, what), points) in enumerate(sorted(series.items())):
        ax = acc_ax if panel == "acc" else kld_ax
        _quality_line(ax, sorted(points), f"{name}: {what}", style.LINE_STYLES[i % len(style.LINE_STYLES)])
        labels += [(ax, size, value, level) for (size, level, _), value, _ in points]
    acc_ax.set_ylabel("accuracy (fraction correct, 95% interval)")
    kld_ax.set_ylabel("KL divergence vs F16 (nats/token, mean)")
    for ax, empty in ((acc_ax, not accs), (kld_ax, not klds)):
        ax.set_xlabel("file size (MB)")
        ax.margins(x=0.15)  # room for a label left of the smallest file, when its right is taken
        if empty:
            ax.text(0.5, 0.5, "not measured", transform=ax.transAxes, ha="center", color="0.5")
    style.legend_outside(kld_ax, "model: metric", also=(acc_ax,))
    models = ", ".join(sorted({m.get("name", "?") for m in described.values()}))
    style.caption(fig, f"models: {models} · points labelled by level · accuracy = {_tasks_caption(results)}"
                       f"{_noise_caption(accs)} · KLD from the perplexity rows · measured on "
                       f"{', '.join(results.devices)}")
    style.place_labels(fig, labels, fontsize=7, bbox=style.LABEL_BOX)
    return fig


def _quality_line(ax, points: list, label: str, linestyle: str) -> None:
    xs = [p[0][0] for p in points]
    ax.plot(xs, [p[1] for p in points], linestyle=linestyle, color="0.35", linewidth=1, label=label, zorder=1)
    for (size, level, synthetic), value, interval in points:
        ax.plot([size], [value], linestyle="none", zorder=2, **style.marker_style(level, synthetic))
        if interval:  # a plain line, not errorbar(): the bar is part of the point, not a series
            ax.vlines(size, *interval, color=style.level_color(level), linewidth=1, alpha=0.6, zorder=1)


def _noise_caption(accs: dict) -> str:
    """Whether the accuracy curve's ups and downs mean anything (the paired test across levels)."""
    found = verdicts(accs)
    if not found:
        return ""
    if all(is_smoke_test(v) for v in found):
        return (" · bars: Wilson 95% intervals; no two levels differ beyond the noise (McNemar exact test on "
                "paired answers): a smoke test, not a ranking")
    return " · bars: Wilson 95% intervals; levels differ only where the report's paired test says so"


def _tasks_caption(results: Results) -> str:
    tasks = {}
    for row in (r for rows in task_rows(results).values() for r in rows):
        metrics = row["metrics"]
        tasks[row["task"]["name"]] = (f"{row['task']['name']} (n={metrics.get('n')}, "
                                      f"shots {row['task'].get('shots', 0)})")
    return "; ".join(tasks.values()) or "none"


def speed_vs_quality(results: Results):
    """Decode t/s against KLD (or, without KLD, against accuracy); the frontier labelled by level."""
    klds, accs = kld_by_file(results), accuracy_by_file(results)
    quality, xlabel, lower_is_better, spreads = _quality_axis(klds, accs)
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
            if interval := spreads.get(file_key(row)):
                ax.hlines(speed, *interval, color=style.level_color(series.level), linewidth=1, alpha=0.6)
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
                       f"both speed and quality{'' if lower_is_better else _noise_caption(accs)}")
    return fig


def _quality_axis(klds: dict, accs: dict):
    with_kld = {k: m["kld_mean"] for k, m in klds.items() if m.get("kld_mean") is not None}
    if with_kld:
        return with_kld, "KL divergence vs F16 (nats/token, mean; F16 = 0)", True, {}
    tasks = sorted({t for per in accs.values() for t in per})
    if not tasks:
        raise Skip("no KLD or accuracy rows to put speed against; run bench --ppl/--tasks")
    task = tasks[0]
    scores = {k: per[task] for k, per in accs.items() if task in per}
    metric = next(iter(scores.values())).metric
    return ({k: a.value for k, a in scores.items()}, f"{task} {metric} (fraction correct, 95% interval)", False,
            {k: interval95(a.value, a.n) for k, a in scores.items()})


def _frontier(ax, points: list[tuple[float, float, str]], lower_is_better: bool, device: str) -> None:
    front = [points[i] for i in pareto_front([(x, y) for x, y, _ in points])]
    xs = [x if lower_is_better else -x for x, _, _ in front]
    ax.plot(xs, [y for _, y, _ in front], color="0.2", linestyle="--", linewidth=1, label=f"Pareto frontier · {device}",
            zorder=0)
    for (_x, y, level), shown_x in zip(front, xs):
        ax.annotate(level, (shown_x, y), textcoords="offset points", xytext=(5, 5), fontsize=8, fontweight="bold")
