"""bench --sustain, --load-mode and --cold from the command line on the real llama.cpp (tiny model):
the rows they write, what a rerun skips, and the report's tables, figure and leaderboard marks."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from edgeprof.cli import cli
from edgeprof.results.store import ResultStore


@pytest.fixture(scope="module")
def q8(tiny_levels):
    return tiny_levels("Q8_0")["Q8_0"]


def _bench(q8, results, *more: str):
    result = CliRunner().invoke(cli, ["bench", str(q8), "-p", "8", "-n", "4", "-r", "1", "-t", "1", "--sensors",
                                      "process", "--results", str(results), "--no-progress", *more])
    assert result.exit_code == 0, result.output
    return result


def test_sustained_run_writes_windows_and_a_steady_state(q8, tmp_path):
    _bench(q8, tmp_path, "--sustain", "1.2", "--sustain-window", "0.3")
    (row,) = [r for r in ResultStore(tmp_path).rows() if r["kind"] == "sustain"]
    windows, steady = row["windows"], row["steady"]
    assert row["status"] == "ok" and len(windows) >= 3
    assert row["settings"]["sustain_s"] == 1.2 and "n_gen" not in row["settings"]
    # every window's rate is its tokens over its decode time; the windows hold at most the run's tokens
    assert sum(w["tokens"] for w in windows) <= row["tokens"]
    assert row["tokens"] / row["decode_s"] == pytest.approx(sum(w["tokens"] for w in windows) / sum(
        w["tokens"] / w["tps"] for w in windows), rel=0.25)
    assert steady["burst_tps"] == windows[0]["tps"] and steady["steady_tps"] > 0
    # a rerun measures nothing again: the speed cell and the sustained run are both in the store
    size = ResultStore(tmp_path).size()
    _bench(q8, tmp_path, "--sustain", "1.2", "--sustain-window", "0.3")
    assert ResultStore(tmp_path).size() == size


def test_load_modes_and_cold_start(q8, tmp_path):
    result = _bench(q8, tmp_path, "-lm", "mmap,none", "--cold", "-o", "json")
    rows = {r["settings"]["load_mode"]: r for r in json.loads(result.stdout)}
    assert set(rows) == {"mmap", "none"} and rows["mmap"]["cell"] != rows["none"]["cell"]
    for row in rows.values():
        start = row["cold_start"]
        assert row["settings"]["cold"] is True and start["n_prompt"] == 8
        assert start["to_first_token_s"] == pytest.approx(start["load_s"] + start["context_s"]
                                                          + start["first_ttft_ms"] / 1e3, abs=2e-3)
        assert start["page_cache"]["cold"] is True  # posix_fadvise exists on Linux
    refused = CliRunner().invoke(cli, ["bench", str(q8), "-lm", "mmapp", "--results", str(tmp_path)])
    assert refused.exit_code == 1 and "--load-mode" in refused.output and "mmap" in refused.output


def test_report_shows_sustained_runs_cold_starts_and_marks_throttled_cells(q8, tmp_path):
    results = tmp_path / "results"
    _bench(q8, results, "--sustain", "0.6", "--sustain-window", "0.2", "--cold")
    lines = (results / "bench.jsonl").read_text().splitlines()
    speed = json.loads(lines[0])
    speed["thermal"]["throttled"] = True  # as a Pi's firmware flag or NVML's clock-event reason would set it
    (results / "bench.jsonl").write_text("\n".join([json.dumps(speed), *lines[1:]]) + "\n")
    out = tmp_path / "report"
    report = CliRunner().invoke(cli, ["report", "--results", str(results), "--out", str(out)])
    assert report.exit_code == 0, report.output
    text = (out / "report.md").read_text()
    assert "## Sustained load and cold start" in text and "steady t/s" in text and "first TTFT ms" in text
    assert "throttled while measured" in text
    assert (out / "figures" / "sustained.png").stat().st_size > 10_000


class _SteadyDraw:
    """A power meter whose energy counter rises at a fixed 2.5 W (the idle draw of a small board)."""
    name = "power_meter"

    def __init__(self):
        import time

        self._clock, self._t0 = time.monotonic, time.monotonic()

    def start(self) -> None:
        pass

    def sample(self) -> dict[str, float]:
        return {"board_energy_j": 2.5 * (self._clock() - self._t0)}

    def stop(self) -> None:
        pass


def test_idle_draw_and_energy_net_of_it():
    from edgeprof.bench.idle import idle_watts, net_j_per_token

    assert idle_watts([_SteadyDraw()], 0.4, 0.02) == {"board": pytest.approx(2.5, rel=0.02)}
    assert idle_watts([_SteadyDraw()], 0.0, 0.02) == {}  # asked not to: nothing read, nothing invented
    # 10 J over 2 s for 20 tokens: 0.5 J/token gross, (10 - 2.5 * 2) / 20 = 0.25 above idle
    assert net_j_per_token(10.0, 2.5, 2.0, 20) == 0.25
    assert net_j_per_token(4.0, 2.5, 2.0, 20) is None  # below idle: the reading's noise, not a figure


def test_parallel_and_roofline_figures_from_a_cpu_run(q8, tmp_path):
    results, out = tmp_path / "results", tmp_path / "figures"
    _bench(q8, results, "--parallel", "1,2")
    plot = CliRunner().invoke(cli, ["plot", "--results", str(results), "--out", str(out)])
    assert plot.exit_code == 0, plot.output
    assert (out / "parallel.png").stat().st_size > 10_000 and (out / "roofline.png").stat().st_size > 10_000
    rows = [r for r in ResultStore(results).rows() if r["kind"] == "speed"]
    by_users = {row["settings"].get("n_parallel", 1): row for row in rows}
    for users, row in by_users.items():  # the roofline's arithmetic: bytes per step x steps/s is the bandwidth
        line = row["roofline"]
        steps_per_s = row["metrics"]["tg_tps_mean"] / users
        assert line["achieved_gbs"] == pytest.approx(line["bytes_per_step"] * steps_per_s / 1e9, rel=0.01, abs=0.01)
        assert line["memory"] == "RAM"
    # two users share one read of the weights: a step reads less than twice one user's step
    assert by_users[2]["roofline"]["bytes_per_step"] < 2 * by_users[1]["roofline"]["bytes_per_step"]
