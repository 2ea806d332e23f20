"""`edgeprof plot`: every figure drawn from recorded results (the H100 device and this 2-core VM,
tests/fixtures/recorded/), including results with missing sensors, a single level and rows from
before the timeline was recorded; the files are checked to be real images."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edgeprof.cli.main import cli
from edgeprof.plot.figures import FIGURES, device_results, render_all
from edgeprof.plot.quality import pareto_front
from edgeprof.plot.select import Skip
from edgeprof.results.read import load_results

RECORDED = Path(__file__).parent / "fixtures" / "recorded"
GPU, CPU, DEMO = RECORDED / "h100", RECORDED / "vm-2core", RECORDED / "demo-vm"
SUSTAIN, COLD = RECORDED / "h200-sustain", RECORDED / "vm-cold"
NEWER = {"parallel", "roofline", "sustained"}  # figures of settings the older recordings never ran


@pytest.fixture(autouse=True)
def close_figures():
    """The figures a test draws without saving are closed after it."""
    yield
    from edgeprof.plot.style import pyplot

    pyplot().close("all")


def rows_of(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "bench.jsonl").read_text().splitlines()]


def write_rows(folder: Path, rows: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "bench.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def series(fig) -> int:
    """Data series drawn: labelled lines, bar groups, boxes (independent of how the figure made them)."""
    from matplotlib.patches import PathPatch

    count = 0
    for ax in fig.axes:
        count += sum(1 for line in ax.get_lines() if not line.get_label().startswith("_"))
        count += len(ax.containers)
        count += sum(1 for p in ax.patches if isinstance(p, PathPatch))
    return count


def levels_in(rows: list[dict], kind: str = "speed", **settings) -> set[str]:
    return {r["model"]["level"] for r in rows if r.get("kind") == kind
            and all(r["settings"].get(k) == v for k, v in settings.items())}


def draw(name: str, *folders: Path, device: str | None = None):
    results = load_results(list(folders))
    if device:
        results = device_results(results, device)
    return FIGURES[name].draw(results)


def assert_real_png(path: Path) -> None:
    import matplotlib.image
    import numpy as np

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = matplotlib.image.imread(path)
    assert pixels.shape[0] > 250 and pixels.shape[1] > 400
    assert len(np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0)) > 20  # not a blank canvas


def test_every_figure_from_the_recorded_results_of_two_devices(tmp_path):
    demo, gpu = rows_of(DEMO), rows_of(GPU)
    n_demo = len(levels_in(demo))
    expected = {  # figure -> (folders, device, series), each count taken from the fixture's own rows
        "quality_vs_size": ((DEMO,), None, len({r["task"]["name"] for r in demo if r["kind"] == "task"}) + 1),
        "speed_vs_quality": ((DEMO,), None, len(levels_in(demo, "perplexity")) + 1),  # points + frontier
        "latency_vs_prompt": ((DEMO,), None, 2 * n_demo),
        "token_latency": ((DEMO,), None, n_demo + 1),  # a box per level + one run's timeline
        "memory": ((GPU,), None, 4),  # RSS and VRAM, each measured beside estimated
        "threads": ((GPU,), None, 2 * len(levels_in(gpu, n_gpu_layers=0))),
        "gpu_layers": ((GPU,), None, 2 * len(levels_in(gpu, n_threads=16))),
        "devices": ((GPU, CPU), None, 2 * 2),  # a bar group per device, decode and TTFT
        "utilisation": ((GPU,), None, 3),  # CPU %, GPU %, GPU power
        "parallel": ((SUSTAIN,), None, 2),  # one level: all users together, and each user
        "roofline": ((COLD,), None, 1),  # the bandwidth line (the levels are scatter points)
        "sustained": ((SUSTAIN,), None, 2),  # a t/s line per sustained run (mmap and read loads)
    }
    assert set(expected) == set(FIGURES)
    for name, (folders, device, count) in expected.items():
        assert series(draw(name, *folders, device=device)) == count, name
    rendered = render_all(load_results([GPU, CPU, DEMO]), tmp_path, "png")
    drawn = [r for r in rendered if r.path]
    assert {r.name for r in drawn} == set(FIGURES) - NEWER  # these three fixtures predate them
    for item in drawn:
        assert_real_png(item.path)
    skipped = {(r.name, r.device) for r in rendered if r.skipped and r.name not in NEWER}
    assert skipped == {("gpu_layers", "vm-2core"), ("gpu_layers", "vm")}  # CPU-only devices: nothing to sweep
    why = {r.name: r.skipped for r in rendered if r.name in NEWER and r.skipped}
    assert "--parallel" in why["parallel"] and "--sustain" in why["sustained"] and "CPU" in why["roofline"]


def test_missing_sensors_draw_what_was_read(tmp_path):
    """The 2-core VM has no GPU and no power sensor: the utilisation plot shows CPU only and the
    memory plot RSS only; with no readings at all those two figures are skipped, not faked."""
    assert series(draw("utilisation", DEMO)) == 1
    assert series(draw("memory", DEMO)) == 2
    bare = []
    for row in rows_of(DEMO):
        row.pop("memory", None)
        if "timeline" in row:
            row["timeline"]["values"] = {}
        bare.append(row)
    folder = write_rows(tmp_path / "bare", bare)
    for name in ("utilisation", "memory"):
        with pytest.raises(Skip):
            draw(name, folder)
    assert series(draw("latency_vs_prompt", folder)) == 2 * len(levels_in(bare))


def test_a_single_level_and_rows_without_timelines(tmp_path):
    single = [r for r in rows_of(DEMO) if r["model"]["level"] == "Q4_K_M"]
    for row in single:
        row.pop("timeline", None)
        row.get("metrics", {}).pop("tokens_per_repetition", None)
    folder = write_rows(tmp_path / "single", single)
    assert series(draw("latency_vs_prompt", folder)) == 2
    assert series(draw("token_latency", folder)) == 2
    assert series(draw("speed_vs_quality", folder)) == 2
    assert series(draw("threads", folder)) == 2  # Q4_K_M was measured on 1 and 2 threads
    with pytest.raises(Skip, match="timeline"):
        draw("utilisation", folder)
    fig = draw("token_latency", folder)
    timeline = [line for line in fig.axes[1].get_lines() if not line.get_label().startswith("_")][0]
    n_gen = single[0]["settings"]["n_gen"]
    assert len(timeline.get_xdata()) == n_gen  # one repetition's steps, split without the per-rep counts


def test_pareto_front():
    points = [(0.0, 100.0), (0.01, 120.0), (0.05, 110.0), (0.2, 150.0), (0.3, 140.0), (0.2, 150.0)]
    assert pareto_front(points) == [0, 1, 3, 5]
    assert pareto_front([(0.1, 5.0)]) == [0]


def test_same_colour_for_a_level_in_every_figure():
    from matplotlib.colors import to_hex

    from edgeprof.plot import style

    fig = draw("latency_vs_prompt", DEMO)
    colours = {line.get_label(): to_hex(line.get_color()) for line in fig.axes[0].get_lines()}
    assert colours == {level: to_hex(style.level_color(level)) for level in levels_in(rows_of(DEMO))}
    assert len(set(colours.values())) == len(colours)


def test_plot_command_svg_and_several_devices(tmp_path):
    result = CliRunner().invoke(cli, ["plot", "--results", str(GPU), "--results", str(CPU), "--out", "figs",
                                      "--image-format", "svg"])
    assert result.exit_code == 0, result.output
    files = sorted(Path("figs").glob("*.svg"))
    assert len(files) == (len(FIGURES) - len(NEWER)) * 2 - 3 - 1  # per-device figures twice; no GPU sweep on the VM
    import xml.etree.ElementTree as ET

    for path in files:
        root = ET.parse(path).getroot()
        assert root.tag.endswith("svg") and len(list(root.iter())) > 50
    assert "skipped gpu_layers [vm-2core]: only one value of n_gpu_layers" in result.output


def test_plot_errors_are_one_line(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(cli, ["plot", "--results", str(empty)])
    assert result.exit_code == 1
    assert result.output.strip() == (f"Error: {empty}: no bench.jsonl here; "
                                     f"run `edgeprof bench ... --results {empty}` first")
    failed = write_rows(tmp_path / "failed", [{"kind": "speed", "status": "failed", "model": {}}])
    result = CliRunner().invoke(cli, ["plot", "--results", str(failed)])
    assert result.exit_code == 1 and "no successful result rows" in result.output


def test_plot_never_writes_into_the_results(tmp_path):
    copy = shutil.copytree(DEMO, tmp_path / "demo")
    before = {p: p.stat().st_mtime_ns for p in copy.rglob("*")}
    assert CliRunner().invoke(cli, ["plot", "--results", str(copy), "--out", "figs"]).exit_code == 0
    assert {p: p.stat().st_mtime_ns for p in copy.rglob("*")} == before


def test_two_models_on_one_device_are_told_apart(tmp_path):
    """The shape model's rows moved onto the demo's device: each figure keeps one series per model
    file, labelled with the model, coloured by level and styled by model."""
    shape = rows_of(CPU)
    for row in shape:
        row["system"] = rows_of(DEMO)[0]["system"]
    folder = write_rows(tmp_path / "both", rows_of(DEMO) + shape)
    fig = draw("latency_vs_prompt", folder)
    lines = [line for line in fig.axes[0].get_lines() if not line.get_label().startswith("_")]
    assert len(lines) == len(levels_in(rows_of(DEMO))) + len(levels_in(shape))
    assert {line.get_label() for line in lines} >= {"SmolLM2-135M-Instruct · Q4_K_M", "SmolLM2-135M-shape · Q4_K_M"}
    assert {line.get_linestyle() for line in lines} == {"-", "--"}
    assert series(draw("token_latency", folder)) == len(lines) + 1
    memory = draw("memory", folder)
    assert len(memory.axes[0].get_xticklabels()) == len(lines)


# --- figure defects (issue 15, item 7) and accuracy error bars (item 6) ------------------------

def gap(box, point) -> float:
    """Distance in pixels from a point to a text box."""
    x, y = point
    return float(np.hypot(max(box.x0 - x, 0, x - box.x1), max(box.y0 - y, 0, y - box.y1)))


def level_labels(ax) -> list:
    return [t for t in ax.texts if t.get_text() in LEVELS]


LEVELS = {r["model"]["level"] for r in rows_of(DEMO)}


def test_quality_vs_size_labels_never_overlap_and_both_panels_are_in_the_legend(tmp_path):
    """Drawn and measured with matplotlib's renderer: no two level labels share a pixel, each sits
    inside its panel and nearer its own point than any other unless a leader line joins them; the
    legend names the accuracy line too; the caption claims only what the labels show."""
    fig = draw("quality_vs_size", DEMO)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    acc_ax, kld_ax = fig.axes[:2]
    for ax in (acc_ax, kld_ax):
        labels = level_labels(ax)
        assert sorted(t.get_text() for t in labels) == sorted(LEVELS)
        boxes = [t.get_window_extent(renderer) for t in labels]
        for i, a in enumerate(boxes):
            assert not any(a.overlaps(b) for b in boxes[i + 1:]), labels[i].get_text()
            assert ax.get_window_extent(renderer).contains(a.x0, a.y0) and \
                ax.get_window_extent(renderer).contains(a.x1, a.y1), labels[i].get_text()
        points = [ax.transData.transform(t.xy) for t in labels]
        for label, box, own in zip(labels, boxes, points):
            if label.arrow_patch is None:  # no leader line: proximity alone says whose label it is
                assert all(gap(box, own) < gap(box, p) for p in points if p is not own), label.get_text()
    legend = [t.get_text() for t in fig.legends[0].get_texts()] if fig.legends else \
        [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
    assert "SmolLM2-135M-Instruct: hellaswag acc_norm" in legend and "SmolLM2-135M-Instruct: KLD" in legend
    caption = fig._supxlabel.get_text().replace("\n", " ")
    assert "labelled by level" in caption
    assert "bits per weight" not in caption  # the labels carry no bits per weight
    assert "a smoke test, not a ranking" in caption  # 20 questions: no two levels told apart


def test_accuracy_points_carry_their_95_percent_interval():
    from edgeprof.plot.noise import interval95

    fig = draw("quality_vs_size", DEMO)
    bars = [seg for c in fig.axes[0].collections for seg in c.get_segments()]
    expected = {}
    for row in rows_of(DEMO):
        if row["kind"] == "task":
            m = row["metrics"]
            expected[row["model"]["size_bytes"] / 1e6] = interval95(m["acc_norm"], m["n"])
    drawn = {round(seg[0][0], 3): (seg[0][1], seg[1][1]) for seg in bars}
    assert drawn.keys() == {round(x, 3) for x in expected}
    for x, interval in expected.items():
        assert drawn[round(x, 3)] == pytest.approx(interval)
    assert all(high - low > 0.35 for low, high in drawn.values())  # n = 20: about ±0.2 each


def test_latency_vs_prompt_does_not_draw_the_same_numbers_twice():
    """TTFT and prefill latency differ by one sampling step (0.1 ms of 100-700 ms), so the second
    panel shows prefill throughput; the caption gives the measured sampling share instead."""
    fig = draw("latency_vs_prompt", DEMO)
    left, right = fig.axes[:2]
    for a, b in zip(left.get_lines(), right.get_lines()):
        ya, yb = a.get_ydata(), b.get_ydata()
        assert max(abs(x - y) / x for x, y in zip(ya, yb)) > 0.5, a.get_label()
    assert "tokens/s" in right.get_ylabel()
    rows = [r for r in rows_of(DEMO) if r.get("kind", "speed") == "speed"]
    q8 = next(line for line in right.get_lines() if line.get_label() == "Q8_0")
    longest = max((r for r in rows if r["model"]["level"] == "Q8_0" and r["settings"]["n_threads"] == 2),
                  key=lambda r: r["settings"]["n_prompt"])
    assert q8.get_ydata()[-1] == pytest.approx(longest["metrics"]["pp_tps_mean"])
    assert re.search(r"first token's sampling \(median 0\.\d\d ms here\)", fig._supxlabel.get_text().replace("\n", " "))


def test_a_skipped_sweep_names_the_option_that_sweeps_it(tmp_path):
    with pytest.raises(Skip) as gpu:
        draw("gpu_layers", DEMO)
    assert "--ngl 0,8,all" in str(gpu.value) and "-t " not in str(gpu.value)
    two_threads = write_rows(tmp_path / "t2", [r for r in rows_of(DEMO) if r["settings"].get("n_threads") in (2, None)])
    with pytest.raises(Skip) as threads:
        draw("threads", two_threads)
    assert "-t 1,2,4" in str(threads.value) and "--ngl" not in str(threads.value)
