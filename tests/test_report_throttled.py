"""Throttled cells in the leaderboard: left out of "fastest" by default, ranked (and still marked) with
``--rank-throttled``. Rows are the recorded demo results with one level's cells flagged as a board's
throttle flags (a Pi's get_throttled, NVML's clock-event reasons) would flag them."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from edgeprof.cli.main import cli
from edgeprof.plot.document import to_markdown
from edgeprof.plot.leaderboard import Budget, entries, recommendation
from edgeprof.plot.report import build
from edgeprof.results.read import load_results

DEMO = Path(__file__).parent / "fixtures" / "recorded" / "demo-vm"


def throttled_copy(tmp_path: Path) -> tuple[Path, str]:
    """The demo results with every speed cell of the fastest level flagged as throttled; that level."""
    fastest = entries(load_results([DEMO]), load_results([DEMO]).devices[0], Budget())[0].level
    folder = tmp_path / "results"
    folder.mkdir()
    lines = []
    for line in (DEMO / "bench.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row["kind"] == "speed" and row["model"]["level"] == fastest.split(" [")[0]:
            row["thermal"] = {**(row.get("thermal") or {}), "throttled": True}
        lines.append(json.dumps(row))
    (folder / "bench.jsonl").write_text("\n".join(lines) + "\n")
    for extra in DEMO.iterdir():
        if extra.name != "bench.jsonl":
            (folder / extra.name).symlink_to(extra.resolve())
    return folder, fastest


def test_throttled_level_is_not_fastest_unless_asked(tmp_path):
    folder, fastest = throttled_copy(tmp_path)
    results = load_results([folder])
    device = results.devices[0]

    board = entries(results, device, Budget())
    hot = next(e for e in board if e.level == fastest)
    assert hot.throttled and hot.fails.startswith("throttled while measured")
    assert board[0].level != fastest and board[-1] is hot  # after every level that held its clock
    assert f"SmolLM2-135M-Instruct {fastest} " not in recommendation(device, board, Budget()).split(".")[0]

    asked = Budget(rank_throttled=True)
    ranked = entries(results, device, asked)
    assert ranked[0].level == fastest and ranked[0].fails is None and ranked[0].throttled  # ranked, still marked
    assert [e.tg_tps for e in ranked] == sorted((e.tg_tps for e in ranked), reverse=True)
    assert sum(e.throttled for e in ranked) == 1
    text = recommendation(device, ranked, asked)
    assert f"{fastest} throttled while measured" in text
    assert "--rank-throttled" in asked.rule(None) and "ranked like the others" in asked.rule(None)


def _leaderboard_line(markdown: str, level: str) -> str:
    board = markdown.split("## Leaderboard", 1)[1].split("## Figures", 1)[0]
    return next(line for line in board.splitlines() if line.startswith("|") and f"| {level}" in line)


def test_report_marks_throttled_level_whether_ranked_or_not(tmp_path):
    folder, fastest = throttled_copy(tmp_path)
    results = load_results([folder])
    default = _leaderboard_line(to_markdown(build(results, [], Budget()), tmp_path / "a"), fastest)
    assert default.startswith("| – |") and f"| {fastest} (throttled) |" in default
    assert "throttled while measured" in default
    ranked = _leaderboard_line(to_markdown(build(results, [], Budget(rank_throttled=True)), tmp_path / "b"), fastest)
    assert ranked.startswith("| 1 |") and f"| {fastest} (throttled) |" in ranked and ranked.endswith("| yes |")


def test_rank_throttled_option_reaches_the_report(tmp_path):
    folder, fastest = throttled_copy(tmp_path)
    out = tmp_path / "report"
    result = CliRunner().invoke(cli, ["report", "--results", str(folder), "--out", str(out), "--rank-throttled"])
    assert result.exit_code == 0, result.output
    markdown = (out / "report.md").read_text()
    assert _leaderboard_line(markdown, fastest).startswith("| 1 |")
    assert "ranked like the others (--rank-throttled)" in markdown
    helped = CliRunner().invoke(cli, ["report", "--help"])
    assert "--rank-throttled" in helped.output and "they stay marked" in helped.output
