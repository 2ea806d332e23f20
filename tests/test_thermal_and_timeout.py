"""Per-cell time limit (a slow cell fails, the sweep goes on), temperature and throttle recorded per
row, and --cooldown waiting for a sensor before each measurement."""

from __future__ import annotations

import json
import threading
import time

from click.testing import CliRunner
from tiny import TinySpec

from edgeprof.bench.resources.thermal import cell_thermal
from edgeprof.cli.main import cli


def _rows(results) -> list[dict]:
    return [json.loads(line) for line in (results / "bench.jsonl").read_text().splitlines()]


def test_a_cell_over_its_time_limit_is_recorded_as_failed_and_the_sweep_goes_on(tiny_factory, tmp_path):
    _, _, model = tiny_factory(TinySpec(tied=True))
    result = CliRunner().invoke(cli, ["bench", str(model), "-p", "8", "-n", "4,6000", "-t", "1", "-r", "3",
                                      "--cell-timeout", "0.3", "--results", str(tmp_path / "r"), "--no-progress"])
    assert result.exit_code == 0, result.output
    by_gen = {r["settings"]["n_gen"]: r for r in _rows(tmp_path / "r")}
    assert by_gen[4]["status"] == "ok"
    assert by_gen[6000]["status"] == "failed"
    assert by_gen[6000]["error"] == "the cell took longer than its time limit of 0.3 s (--cell-timeout)"


def _zone(folder, index: int, kind: str, millicelsius: int) -> None:
    zone = folder / f"thermal_zone{index}"
    zone.mkdir(parents=True, exist_ok=True)
    (zone / "type").write_text(kind + "\n")
    (zone / "temp").write_text(f"{millicelsius}\n")


def test_cooldown_waits_for_the_sensor_and_rows_record_the_temperatures(tiny_factory, tmp_path, monkeypatch):
    """A thermal_zone folder as the kernel lays it out (EDGEPROF_THERMAL_DIR points at it): 71 C
    until a second thread "cools" it to 44 C after 1.5 s; --cooldown 50 must wait for that."""
    _, _, model = tiny_factory(TinySpec(tied=True))
    zones = tmp_path / "thermal"
    _zone(zones, 0, "cpu-thermal", 71000)
    _zone(zones, 1, "gpu-thermal", 39000)
    monkeypatch.setenv("EDGEPROF_THERMAL_DIR", str(zones))
    cool = threading.Timer(1.5, _zone, (zones, 0, "cpu-thermal", 44000))
    started = time.monotonic()
    cool.start()
    result = CliRunner().invoke(cli, ["bench", str(model), "-p", "8", "-n", "4", "-r", "1", "--cooldown", "50",
                                      "--sensors", "thermal", "--results", str(tmp_path / "r"), "--no-progress"])
    cool.join()
    assert result.exit_code == 0, result.output
    (row,) = _rows(tmp_path / "r")
    assert row["thermal"]["cooldown_s"] >= 1.0 and time.monotonic() - started >= 1.5
    assert row["thermal"]["start_temp_c"] == 44.0 and row["thermal"]["max_temp_c"] == 44.0
    assert row["thermal"]["cooldown_gave_up"] is False and row["thermal"]["throttled"] is None  # no flags here
    assert row["resources"]["decode"]["temp_gpu_thermal_c_max"] == 39.0


def test_cooldown_without_a_sensor_is_one_line(tiny_factory, tmp_path, monkeypatch):
    _, _, model = tiny_factory(TinySpec(tied=True))
    monkeypatch.setenv("EDGEPROF_THERMAL_DIR", str(tmp_path / "none"))
    result = CliRunner().invoke(cli, ["bench", str(model), "--cooldown", "50", "--sensors", "thermal,process",
                                      "-p", "16", "-n", "4", "--results", str(tmp_path / "r")])
    assert result.exit_code == 1
    assert result.output == ("Error: --cooldown needs a temperature sensor, and none of the sensors here reads "
                             "one (sensors: process); drop --cooldown\n")
    assert not (tmp_path / "r" / "bench.jsonl").exists()


def test_throttling_at_any_moment_of_the_cell_marks_the_row():
    """Flags as the Pi firmware and NVML sensors report them, summarised per phase."""
    cool = {"decode": {"soc_temp_c_max": 61.0, "throttled_now_max": 0.0}, "prefill": {"gpu_temp_c_max": 55.0}}
    assert cell_thermal(cool) == {"max_temp_c": 61.0, "throttled": False}
    hot = {"decode": {"soc_temp_c_max": 84.5, "soft_temp_limit_now_max": 1.0, "throttled_now_max": 0.0}}
    assert cell_thermal(hot) == {"max_temp_c": 84.5, "throttled": True}
    gpu = {"decode": {"gpu_throttled_now_max": 1.0, "rss_mb_max": 300.0}}
    assert cell_thermal(gpu) == {"max_temp_c": None, "throttled": True}
    assert cell_thermal({"decode": {"rss_mb_max": 300.0}}) == {"max_temp_c": None, "throttled": None}
