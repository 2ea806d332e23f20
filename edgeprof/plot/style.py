"""How every figure looks: Agg backend, one colour per level across all figures, titles, units,
a caption line naming device/model/settings, the legend outside the data."""

from __future__ import annotations

import math
from pathlib import Path

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")  # one per device (or model) where both appear
LINE_STYLES = ("-", "--", ":", "-.")  # one per model
DEVICE_HATCHES = ("", "//", "..", "xx", "\\\\", "oo")
CAPTION_WIDTH = 150  # characters per caption line before it wraps


def pyplot():
    """matplotlib's pyplot on the Agg backend (no display needed, same output everywhere)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": 110, "axes.grid": True, "grid.alpha": 0.3,
                         "axes.spines.top": False, "axes.spines.right": False, "font.size": 9})
    return plt


# One colour per level, the same in every figure: unquantized greys, then blue (8 bits) through
# cyan, green (4 bits) and orange to red (2 bits) and purple/brown below, so precision reads off
# the hue and neighbours in a typical sweep stay distinguishable.
LEVEL_COLORS = {
    "F32": "#000000", "BF16": "#555555", "F16": "#2b2b2b",
    "Q8_0": "#08306b", "Q6_K": "#2171b5", "Q5_K_M": "#17becf", "Q5_K_S": "#5fd3e0", "Q5_1": "#41ab9c",
    "Q5_0": "#66c2a4", "Q4_K_M": "#2ca02c", "Q4_K_S": "#98df8a", "Q4_1": "#bcbd22", "Q4_0": "#7f7f00",
    "IQ4_NL": "#8fbc3f", "IQ4_XS": "#556b2f", "Q3_K_L": "#fdae6b", "Q3_K_M": "#ff7f0e", "Q3_K_S": "#d95f02",
    "IQ3_M": "#f4a582", "IQ3_S": "#e08050", "IQ3_XS": "#c8643c", "IQ3_XXS": "#b04a28", "Q2_K": "#d62728",
    "Q2_K_S": "#a50f15", "IQ2_M": "#e377c2", "IQ2_S": "#c051a8", "IQ2_XS": "#9467bd", "IQ2_XXS": "#6a3d9a",
    "IQ1_M": "#8c564b", "IQ1_S": "#5b3a29",
}
UNKNOWN_COLOR = "#999999"


def level_color(level: str) -> str:
    return LEVEL_COLORS.get(level, UNKNOWN_COLOR)


def marker_style(level: str, synthetic: bool = False, marker: str = "o") -> dict:
    """Scatter/line marker options; synthetic (random-weight) rows are hollow."""
    color = level_color(level)
    return {"color": color, "marker": marker, "markerfacecolor": "none" if synthetic else color,
            "markeredgecolor": color}


def series_style(series, marker: str | None = None) -> dict:
    """Line and marker options of one model file: colour from its level, marker and line style from
    its model, hollow when synthetic."""
    return {**marker_style(series.level, series.synthetic, marker or MARKERS[series.model_index % len(MARKERS)]),
            "linestyle": LINE_STYLES[series.model_index % len(LINE_STYLES)]}


def new_figure(title: str, ncols: int = 1, width: float = 7.5, height: float = 4.2):
    plt = pyplot()
    fig, axes = plt.subplots(1, ncols, figsize=(width * (1 if ncols == 1 else 0.75 * ncols), height), squeeze=False,
                             layout="constrained")
    fig.suptitle(title, fontsize=12, fontweight="bold")
    return fig, list(axes[0])


def legend_outside(ax, title: str | None = None, also=(), handles=None, x: float = 1.02) -> None:
    """The legend right of the data: ``ax``'s labelled artists plus those of ``also`` (a twin axis),
    or the given proxy ``handles``."""
    if handles is None:
        handles = []
        for source in (ax, *also):
            handles += source.get_legend_handles_labels()[0]
    if handles:
        ax.legend(handles=handles, title=title, loc="upper left", bbox_to_anchor=(x, 1.0), frameon=False,
                  fontsize=8, title_fontsize=8)


def hatch_legend(ax, keys: list[tuple[str, str]], title: str | None = None) -> None:
    """A legend of hatch patterns (label, hatch) for bars whose colour already means the level."""
    from matplotlib.patches import Patch

    legend_outside(ax, title, handles=[Patch(facecolor="white", edgecolor="0.2", hatch=hatch, label=label)
                                       for label, hatch in keys])


# Where a point's label may go, in points from the point, nearest first: beside it (right, left),
# then rows above and below with a leader line, so labels of points that sit together stack
# instead of overprinting.
SIDE_OFFSETS = ((5, 3), (-5, 3))
LEADER_OFFSETS = tuple((dx, dy) for dy in (-10, 12, -19, 21, -28, 30, -37, 39, -46) for dx in (5, -5))
LEADER = {"arrowstyle": "-", "color": "0.5", "linewidth": 0.5, "shrinkA": 0, "shrinkB": 3}
LABEL_BOX = {"boxstyle": "square,pad=0.1", "facecolor": "white", "alpha": 0.7, "edgecolor": "none"}  # over lines


def place_labels(fig, labels: list[tuple], **text) -> list:
    """Annotate each (ax, x, y, label) near its point, on no other label or marker and inside the
    axes. First every label tries a place beside its point that is nearer it than any other point;
    the rest then take the first free row above or below, with a leader line. Call last: it draws
    the figure once and freezes the layout, since where a label lands in pixels depends on the
    final axes size."""
    fig.canvas.draw()
    fig.set_layout_engine("none")
    renderer = fig.canvas.get_renderer()
    points = [(ax, *ax.transData.transform((x, y))) for ax, x, y, _ in labels]
    taken = [_marker_box(ax, px, py) for ax, px, py in points]
    offsets: list = [None] * len(labels)
    for candidates in (SIDE_OFFSETS, LEADER_OFFSETS):
        for i, (ax, x, y, label) in enumerate(labels):
            if offsets[i] is None:
                near = [(px, py) for j, (other, px, py) in enumerate(points) if other is ax and j != i] \
                    if candidates is SIDE_OFFSETS else []  # a leader line says whose label it is
                found = _free_offset(ax, (x, y), label, points[i][1:], near, candidates, taken, renderer, text)
                if found:
                    offsets[i] = found[0]
                    taken.append(found[1])
    return [ax.annotate(label, (x, y), textcoords="offset points", xytext=offset or SIDE_OFFSETS[0],
                        ha="left" if (offset or SIDE_OFFSETS[0])[0] > 0 else "right", **text,
                        **({"arrowprops": LEADER} if offset in LEADER_OFFSETS else {}))
            for (ax, x, y, label), offset in zip(labels, offsets)]


def _free_offset(ax, xy, label, own, others, candidates, taken: list, renderer, text: dict) -> tuple | None:
    """The first candidate offset whose text box is free, inside the axes and nearer its own point
    than any of ``others``, with that box; None if there is none."""
    inside = ax.get_window_extent(renderer)
    for dx, dy in candidates:
        note = ax.annotate(label, xy, textcoords="offset points", xytext=(dx, dy), ha="left" if dx > 0 else "right",
                           **text)
        box = note.get_window_extent(renderer)
        note.remove()
        if not any(box.overlaps(t) for t in taken) and inside.contains(box.x0, box.y0) and \
                inside.contains(box.x1, box.y1) and all(_distance(box, *own) < _distance(box, *p) for p in others):
            return (dx, dy), box
    return None


def _distance(box, px: float, py: float) -> float:
    return math.hypot(max(box.x0 - px, 0, px - box.x1), max(box.y0 - py, 0, py - box.y1))


def _marker_box(ax, px: float, py: float, radius: float = 3.5):
    """The pixels a default-size marker at display point (px, py) covers, so a label never hides a point."""
    from matplotlib.transforms import Bbox

    r = radius * ax.figure.dpi / 72
    return Bbox([[px - r, py - r], [px + r, py + r]])


def caption(fig, text: str) -> None:
    """The line under the figure naming device(s), model(s) and settings; the layout keeps room for it."""
    import textwrap

    fig.supxlabel("\n".join(textwrap.wrap(text, CAPTION_WIDTH)), x=0.01, ha="left", fontsize=7.5, color="0.3")


def save(fig, path: Path, fmt: str) -> Path:
    """Write the figure under a temporary name of its own, then rename: a crash never leaves half an
    image, and two writers of one figure never write into each other's temporary file."""
    from edgeprof.atomic import atomic_output

    target = path.with_suffix(f".{fmt}")
    with atomic_output(target) as tmp:
        fig.savefig(tmp, format=fmt, bbox_inches="tight", metadata=_metadata(fmt, fig))
    pyplot().close(fig)
    return target


def _metadata(fmt: str, fig) -> dict:
    title = fig._suptitle.get_text() if fig._suptitle else ""
    if fmt == "png":
        return {"Title": title, "Software": "edgeprof"}
    if fmt == "svg":
        return {"Title": title}
    return {}
