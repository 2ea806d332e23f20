"""The figures `edgeprof plot` draws, as a table: name -> how to draw it and what it shows.

A figure marked per device is drawn once for each device in the results; the others compare
devices in one picture. A figure the results cannot support is skipped with the reason."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from edgeprof.paths import slug
from edgeprof.plot import device_figures, quality_figures, resource_figures, scaling_figures, speed_figures
from edgeprof.plot.select import Skip
from edgeprof.results.read import Results, device_of


@dataclass(frozen=True)
class FigureDef:
    draw: Callable[[Results], object] = field(metadata={"help": "results -> a matplotlib figure (or raises Skip)"})
    shows: str = field(metadata={"help": "one line on what the figure shows"})
    per_device: bool = field(default=True, metadata={"help": "drawn once per device"})


FIGURES: dict[str, FigureDef] = {
    "quality_vs_size": FigureDef(quality_figures.quality_vs_size,
                                 "accuracy (95% intervals) and KLD vs file size, one line per model, points labelled "
                                 "by level",
                                 per_device=False),
    "speed_vs_quality": FigureDef(quality_figures.speed_vs_quality,
                                  "decode t/s vs KLD (or accuracy), Pareto frontier labelled by level",
                                  per_device=False),
    "latency_vs_prompt": FigureDef(speed_figures.latency_vs_prompt,
                                   "TTFT and prefill throughput vs prompt length, per level"),
    "token_latency": FigureDef(speed_figures.token_latency,
                               "per-token decode latency box plot per level, and one run's latency timeline"),
    "memory": FigureDef(resource_figures.memory, "peak RSS / VRAM per level beside the memory guard's estimate"),
    "threads": FigureDef(speed_figures.threads, "decode and prefill t/s vs CPU threads, per level"),
    "gpu_layers": FigureDef(speed_figures.gpu_layers, "decode and prefill t/s vs n_gpu_layers, per level"),
    "devices": FigureDef(speed_figures.devices, "decode t/s and TTFT per level, devices side by side",
                         per_device=False),
    "utilisation": FigureDef(resource_figures.utilisation,
                             "CPU/GPU utilisation and power over one run, prefill and decode shaded"),
    "parallel": FigureDef(scaling_figures.parallel, "aggregate and per-user decode t/s vs sequences decoded together"),
    "roofline": FigureDef(scaling_figures.roofline,
                          "decode t/s vs bytes read per token, beside the speed the probed RAM bandwidth allows"),
    "sustained": FigureDef(device_figures.sustained,
                           "decode t/s per window over a sustained run beside temperature, throttled windows shaded"),
}


@dataclass(frozen=True)
class Rendered:
    name: str
    path: Path | None
    shows: str
    device: str | None = None
    skipped: str | None = None  # why it was not drawn



def device_stems(devices: list[str]) -> dict[str, str]:
    """Each device's part of its figures' file names: its name as a file-name fragment, numbered where
    two names make the same fragment ("Pi 5" and "pi-5"), so no device's figure overwrites another's."""
    stems: dict[str, str] = {}
    for device in devices:
        stem, n = slug(device), 1
        while stem in stems.values():
            n += 1
            stem = f"{slug(device)}-{n}"
        stems[device] = stem
    return stems


def device_results(results: Results, device: str) -> Results:
    return Results(results.folders, [r for r in results.rows if device_of(r) == device])


def render_all(results: Results, out: Path, fmt: str = "png", names: list[str] | None = None,
               on_figure: Callable[[Rendered], None] | None = None) -> list[Rendered]:
    from edgeprof.plot import style

    out.mkdir(parents=True, exist_ok=True)
    rendered = []
    stems = device_stems(results.devices)
    for name in names or FIGURES:
        spec = FIGURES[name]
        targets = [(d, device_results(results, d)) for d in results.devices] if spec.per_device else [(None, results)]
        for device, subset in targets:
            stem = f"{name}-{stems[device]}" if device and len(results.devices) > 1 else name
            try:
                fig = spec.draw(subset)
            except Skip as why:
                style.pyplot().close("all")  # a figure may have been started before the data ran out
                item = Rendered(name, None, spec.shows, device, str(why))
            else:
                item = Rendered(name, style.save(fig, out / stem, fmt), spec.shows, device)
            rendered.append(item)
            if on_figure:
                on_figure(item)
    return rendered
