"""`edgeprof report`: the leaderboard and its rule, the advice sentence, the full tables, and the
self-contained HTML page opened in headless Chromium (its images must load)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgeprof.cli.main import cli
from edgeprof.plot.leaderboard import Budget, entries, recommendation
from edgeprof.results.read import load_results

RECORDED = Path(__file__).parent / "fixtures" / "recorded"
GPU, CPU, DEMO = RECORDED / "h100", RECORDED / "vm-2core", RECORDED / "demo-vm"


def klds(folder: Path) -> dict[str, float]:
    out = {}
    for line in (folder / "bench.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row["kind"] == "perplexity":
            out[row["model"]["level"]] = 0.0 if row["baseline"]["is_self"] else row["metrics"]["kld_mean"]
    return out


def test_leaderboard_ranks_by_speed_within_the_kld_budget():
    results = load_results([DEMO])
    device = results.devices[0]
    board = entries(results, device, Budget(max_kld=0.05))
    known = klds(DEMO)
    inside = [e for e in board if e.fails is None]
    assert {e.level for e in inside} == {lv for lv, k in known.items() if k <= 0.05}
    assert [e.tg_tps for e in inside] == sorted((e.tg_tps for e in inside), reverse=True)
    assert board[: len(inside)] == inside  # qualifying levels first
    assert all(e.fails.startswith("KLD ") for e in board[len(inside):])
    everyone = entries(results, device, Budget())
    assert all(e.fails is None for e in everyone)
    assert [e.tg_tps for e in everyone] == sorted((e.tg_tps for e in everyone), reverse=True)


def test_recommendation_states_the_speedup_and_its_cost():
    results = load_results([DEMO])
    device = results.devices[0]
    board = entries(results, device, Budget(max_kld=0.05))
    best = next(e for e in board if e.fails is None)
    q8 = next(e for e in board if e.level == "Q8_0")
    text = recommendation(device, board, Budget(max_kld=0.05))
    if best.level == "Q8_0":
        assert text.startswith(f"On {device}, SmolLM2-135M-Instruct Q8_0 is the fastest level within the budget")
    else:
        assert f"gives {best.tg_tps / q8.tg_tps:.2f}x the decode speed of Q8_0" in text
        assert f"{best.kld - q8.kld:+.3f} KLD" in text
        overlap = best.tg_tps - best.tg_std <= q8.tg_tps + q8.tg_std
        assert ("within one standard deviation" in text) == overlap
    nothing = recommendation(device, entries(results, device, Budget(max_kld=0.0)), Budget(max_kld=0.0))
    assert nothing.startswith(f"On {device}, SmolLM2-135M-Instruct F16 ")  # only the baseline has KLD 0


def test_accuracy_budget_names_the_task():
    results = load_results([DEMO])
    budget = Budget(min_acc=0.99, task="hellaswag")
    board = entries(results, results.devices[0], budget)
    assert all(e.fails and e.fails.startswith("accuracy ") for e in board)
    assert "hellaswag >= 0.99" in budget.rule("hellaswag")


def make_report(tmp_path: Path, *folders: Path) -> tuple[Path, Path]:
    result = CliRunner().invoke(cli, ["report", *[a for f in folders for a in ("--results", str(f))],
                                      "--out", str(tmp_path / "report"), "--max-kld", "0.05"])
    assert result.exit_code == 0, result.output
    return tmp_path / "report" / "report.md", tmp_path / "report" / "report.html"


def test_report_markdown_has_every_part(tmp_path):
    md, page = make_report(tmp_path, GPU, CPU, DEMO)
    text = md.read_text()
    for heading in ("## Summary", "## Leaderboard", "### H100", "### vm-2core", "### vm", "## Figures",
                    "## All measurements", "## Hardware and software", "## How to read the numbers"):
        assert heading in text, heading
    assert "Rule: ranked by decode tokens/s (fastest first) among the levels with mean KLD" in text
    assert "NVIDIA H100 80GB HBM3" in text and "AMD EPYC" in text
    assert re.search(r"\| \d+\.\d ± \d+\.\d \|", text)  # spreads in the full table
    for link in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text):
        assert (md.parent / link).is_file(), link
    html = page.read_text()
    assert not re.search(r"(src|href)=\"(https?:|file:|//)", html)  # nothing fetched from anywhere
    assert html.count("<img src=\"data:image/png;base64,") == len(re.findall(r"!\[", text))


CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PROBE = ("<script>window.addEventListener('load', () => { const imgs = [...document.images];"
         " document.body.dataset.images = imgs.length;"
         " document.body.dataset.loaded = imgs.filter(i => i.complete && i.naturalWidth > 0).length;"
         " document.body.dataset.tables = document.querySelectorAll('table').length; });</script>")


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed "
                    "(the README's test command installs it)")
def test_html_report_renders_in_headless_chromium(tmp_path):
    _, page = make_report(tmp_path, GPU, CPU)
    probe = tmp_path / "probe.html"  # the report plus a script that counts the images that loaded
    probe.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    profile = ["--user-data-dir=" + str(tmp_path / "profile")]
    dom = subprocess.run(["chromium", *CHROMIUM_FLAGS, *profile, "--virtual-time-budget=5000", "--dump-dom",
                          probe.as_uri()], capture_output=True, text=True, timeout=120).stdout
    images = int(re.search(r'data-images="(\d+)"', dom).group(1))
    assert images >= 10
    assert re.search(r'data-loaded="(\d+)"', dom).group(1) == str(images)
    assert int(re.search(r'data-tables="(\d+)"', dom).group(1)) >= 4
    shot = tmp_path / "shot.png"
    subprocess.run(["chromium", *CHROMIUM_FLAGS, *profile, "--window-size=1200,3000", f"--screenshot={shot}",
                    page.as_uri()], capture_output=True, timeout=120)
    import matplotlib.image
    import numpy as np

    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[:2] == (3000, 1200)
    assert len(np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0)) > 100  # text and plots, not blank


def test_advice_says_when_the_speeds_are_within_noise():
    from edgeprof.plot.leaderboard import Entry

    def entry(level, tg, std, kld):
        return Entry("m", level, 100.0, 8.0, tg, std, 500.0, 50.0, kld, None, False, None)

    clear = recommendation("pi", [entry("Q4_K_M", 20.0, 0.5, 0.04), entry("Q8_0", 10.0, 0.5, 0.003)], Budget(0.05))
    assert clear.startswith("On pi, m Q4_K_M gives 2.00x the decode speed of Q8_0 (20.0 vs 10.0 t/s) for +0.037 KLD")
    assert "standard deviation" not in clear
    noisy = recommendation("pi", [entry("Q4_K_M", 11.0, 1.0, 0.04), entry("Q8_0", 10.0, 1.0, 0.003)], Budget(0.05))
    assert "within one standard deviation" in noisy
