"""The jetson-stats (`jtop`) sensor on a recorded snapshot, and how it is chosen over tegrastats.

jetson-stats talks to a root service on a Jetson; neither is here. Its client is replaced by an object
serving a snapshot a real client printed on an Orin Nano (tests/fixtures/jtop/README.md), and its
package by a stand-in module only where the choice between jtop and tegrastats is tested.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import sys
import time
import types
from pathlib import Path

import pytest

from edgeprof.bench.resources import Monitor
from edgeprof.bench.resources.base import SENSORS, available_sensors
from edgeprof.bench.resources.jetson_stats import INTERVAL_S, STALE_PERIODS, JtopSensor, connect, read_jtop
from edgeprof.bench.resources.summary import summarize
from edgeprof.bench.resources.tegrastats import INTERVAL_MS, TegrastatsSensor, parse_tegrastats

SNAPSHOT = json.loads((Path(__file__).parent / "fixtures" / "jtop" / "orin_nano_jp62.json").read_text())
# The same board and JetPack through tegrastats (the busy line recorded in test_resources_platform.py).
ORIN_NANO_JP62_TEGRASTATS = (
    "10-08-2026 04:35:02 RAM 6712/7620MB (lfb 12x4MB) SWAP 369/3810MB (cached 8MB) "
    "CPU [38%@1497,2%@729,1%@729,0%@729,1%@729,0%@729] EMC_FREQ 61%@2133 "
    "GR3D_FREQ 99%@[612] NVDEC off NVJPG off VIC off OFA off APE 200 "
    "cpu@57.125C soc2@55.093C soc0@56.625C gpu@58.625C tj@58.312C soc1@55.937C "
    "VDD_IN 16321mW/11204mW VDD_CPU_GPU_CV 7104mW/4944mW VDD_SOC 3120mW/3659mW"
)


class RecordedJtop:
    """Stands in for jetson-stats' client: the properties edgeprof reads, a recorded snapshot behind them,
    observers called on ``push`` as the client's thread calls them on each snapshot from the service."""

    def __init__(self, snapshot: dict = SNAPSHOT, interval: float = INTERVAL_S):
        self.snapshot = snapshot
        self.interval = interval  # jtop's property: the service's pace
        self.observers: list = []
        self.reads = 0  # how often the snapshot was read (once per property group per read)
        self.started = False

    def start(self) -> None:
        self.started = True

    def attach(self, observer) -> None:
        self.observers.append(observer)

    def push(self, snapshot: dict) -> None:
        self.snapshot = snapshot
        for observer in self.observers:
            observer(self)

    def _part(self, key: str):
        if key == "power":
            self.reads += 1
        return self.snapshot[key]

    power = property(lambda self: self._part("power"))
    memory = property(lambda self: self._part("memory"))
    gpu = property(lambda self: self._part("gpu"))
    cpu = property(lambda self: self._part("cpu"))
    temperature = property(lambda self: self._part("temperature"))


def approx(expected: dict[str, float]):
    return pytest.approx(expected, rel=1e-12, abs=1e-12)


# --- the mapping -------------------------------------------------------------------------------------

def test_recorded_snapshot_maps_to_watts_percent_and_megabytes():
    cores = SNAPSHOT["cpu"]["cpu"]
    assert read_jtop(RecordedJtop()) == approx({
        "rail_vdd_cpu_gpu_cv_power_w": 1.064, "rail_vdd_soc_power_w": 1.54,
        "rail_vdd_in_power_w": 5.133, "board_power_w": 5.133,  # jtop's tot, taken from the VDD_IN rail
        "ram_used_mb": 1687344 / 1024, "ram_total_mb": 3688892 / 1024,
        "swap_used_mb": 0.0, "swap_total_mb": 1844424 / 1024,
        "emc_util_percent": 0.0, "emc_freq_mhz": 2133.0,
        "gpu_util_percent": 4.8, "gpu_freq_mhz": 305.981,  # the GPC's measured clock, as tegrastats prints it
        "cpu_load_percent": sum(100 - c["idle"] for c in cores) / 6, "cpu_freq_max_mhz": 1344.0,
        "temp_cpu_c": 46.062, "temp_gpu_c": 46.406, "temp_soc0_c": 45.875, "temp_soc1_c": 47.906,
        "temp_soc2_c": 45.25, "temp_tj_c": 47.906,  # cv0-cv2 are offline (-256): absent, not readings
    })


def test_mapping_agrees_with_the_stats_jtop_derives_from_the_same_snapshot():
    values, stats = read_jtop(RecordedJtop()), SNAPSHOT["stats"]
    assert values["board_power_w"] == stats["Power TOT"] / 1000
    for key, milliwatts in stats.items():
        if key.startswith("Power ") and key != "Power TOT":
            assert values[f"rail_{key.removeprefix('Power ').lower()}_power_w"] == milliwatts / 1000
    assert values["gpu_util_percent"] == stats["GPU"]
    assert values["emc_util_percent"] == stats["EMC"]
    assert values["ram_used_mb"] / values["ram_total_mb"] == pytest.approx(stats["RAM"])
    per_core = [v for k, v in stats.items() if k.startswith("CPU")]  # 100 - int(idle): within 1 of the exact load
    assert values["cpu_load_percent"] == pytest.approx(sum(per_core) / len(per_core), abs=1)
    temps = {k.removeprefix("Temp "): v for k, v in stats.items() if k.startswith("Temp ")}
    assert {f"temp_{k}_c" for k, v in temps.items() if v > -256} == {k for k in values if k.startswith("temp_")}


def test_same_metric_names_as_tegrastats_on_the_same_board():
    assert set(read_jtop(RecordedJtop())) == set(parse_tegrastats(ORIN_NANO_JP62_TEGRASTATS))


def test_a_summed_total_is_not_the_board_input():
    """Without VDD_IN/POM_5V_IN jtop sums the module rails into ``tot`` (AGX Xavier/Orin): that sum leaves
    out what the rails do not meter, so it is not reported as the board's power."""
    snapshot = copy.deepcopy(SNAPSHOT)
    del snapshot["power"]["tot"]["name"]
    snapshot["power"]["tot"]["power"] = 1064 + 1540
    values = read_jtop(RecordedJtop(snapshot))
    assert "board_power_w" not in values and "rail_vdd_in_power_w" not in values
    assert values["rail_vdd_soc_power_w"] == 1.54


def test_unreadable_parts_are_absent_not_zero():
    snapshot = copy.deepcopy(SNAPSHOT)
    snapshot["memory"]["EMC"]["cur"] = 1  # jtop's placeholder where the EMC clock could not be read
    snapshot["power"]["rail"]["VDD_SOC"]["online"] = False
    snapshot["gpu"] = {"gpu": {"type": "integrated", "status": {"railgate": True}, "freq": {}}}  # no load, no clock
    snapshot["cpu"] = "not a dict"  # a part shaped otherwise by some version: the rest still reads
    snapshot["power"]["tot"] = {}
    values = read_jtop(RecordedJtop(snapshot))
    for key in ("emc_util_percent", "emc_freq_mhz", "rail_vdd_soc_power_w", "gpu_util_percent", "gpu_freq_mhz",
                "cpu_load_percent", "board_power_w"):
        assert key not in values, key
    assert values["rail_vdd_cpu_gpu_cv_power_w"] == 1.064 and values["temp_tj_c"] == 47.906


def test_empty_power_and_missing_swap():
    snapshot = copy.deepcopy(SNAPSHOT)
    snapshot["power"] = {}  # a board without power monitors: jtop's PowerService returns {}
    del snapshot["memory"]["SWAP"]
    values = read_jtop(RecordedJtop(snapshot))
    assert not any(k.endswith("_power_w") for k in values) and "swap_used_mb" not in values
    assert values["ram_total_mb"] == 3688892 / 1024


# --- the sensor: pace and staleness --------------------------------------------------------------------

def test_sensor_maps_each_snapshot_once_however_often_it_is_sampled():
    client = RecordedJtop()
    sensor = JtopSensor(client)
    sensor.start()
    first = [sensor.sample() for _ in range(50)]  # the monitor reads every 50 ms, the service sends every 100
    assert client.reads == 1 and all(r == read_jtop(RecordedJtop()) for r in first)
    busier = copy.deepcopy(SNAPSHOT)
    busier["gpu"]["gpu"]["status"]["load"] = 99.0
    busier["power"]["tot"]["power"] = 9000
    client.push(busier)  # what jtop's thread does when the service sends a snapshot
    assert client.reads == 2
    assert sensor.sample()["gpu_util_percent"] == 99.0 and sensor.sample()["board_power_w"] == 9.0
    sensor.stop()


def test_sensor_asks_the_service_for_tegrastats_pace_and_keeps_the_pace_it_gets(monkeypatch):
    asked = []

    def client(interval=1.0):
        asked.append(interval)
        return RecordedJtop(interval=0.5)  # another client (the jtop UI) had set the service to 500 ms

    monkeypatch.setitem(sys.modules, "jtop", types.SimpleNamespace(jtop=client))
    sensor = JtopSensor.detect()
    assert asked == [INTERVAL_MS / 1000] and sensor is not None and sensor.interval_s == 0.5


def test_a_silent_service_reads_as_nothing():
    now = [100.0]
    sensor = JtopSensor(RecordedJtop(), clock=lambda: now[0])
    now[0] += STALE_PERIODS * INTERVAL_S - 1e-6
    assert sensor.sample()["board_power_w"] == 5.133
    now[0] += 2e-6  # past three intervals without a snapshot: the service stopped or the client lost it
    assert sensor.sample() == {}


def test_monitor_integrates_jtop_board_power_into_energy():
    with Monitor([JtopSensor(RecordedJtop())], interval=0.01) as monitor:
        monitor.mark("decode")
        time.sleep(0.1)
    decode = summarize(monitor.readings)["decode"]
    assert decode["board_energy_j"] == pytest.approx(5.133 * decode["seconds"])
    assert decode["gpu_util_percent_max"] == 4.8 and decode["temp_tj_c_max"] == 47.906


# --- choosing jtop or tegrastats ----------------------------------------------------------------------

@pytest.fixture
def tegrastats_here(monkeypatch):
    """Make tegrastats available as it is on a Jetson (this machine is not one); count its detections."""
    calls = []

    def detect(cls, *args, **kwargs):
        calls.append(1)
        return cls(command=["unused"])

    monkeypatch.setattr(TegrastatsSensor, "detect", classmethod(detect))
    return calls


class DownJtop(RecordedJtop):
    """A client whose ``start`` fails as jetson-stats' does when its service does not answer."""

    def __init__(self, error: Exception):
        super().__init__()
        self.error = error

    def start(self) -> None:
        raise self.error


def _jtop_module(client: RecordedJtop):
    """A stand-in for the jetson-stats package: ``from jtop import jtop`` gives ``client``."""
    return types.SimpleNamespace(jtop=lambda interval=1.0: client)


def names(sensors) -> list[str]:
    return [s.name for s in sensors]


def test_without_jetson_stats_installed_tegrastats_is_used(monkeypatch, tegrastats_here):
    monkeypatch.setitem(sys.modules, "jtop", None)  # `import jtop` raises ImportError
    assert connect() is None
    assert names(available_sensors(["jtop", "tegrastats"])) == ["tegrastats"]


class JtopException(Exception):
    """jetson-stats' own exception type, as ``jtop.start`` raises it when the service is off."""


@pytest.mark.parametrize("error", [
    JtopException("The jtop.service is not active. Please run:\nsudo jtop --install-service"),
    JtopException("I can't access jtop.service.\nPlease logout or reboot this board."),
    ConnectionRefusedError(111, "Connection refused"),
])
def test_with_the_service_down_tegrastats_is_used(monkeypatch, tegrastats_here, error):
    monkeypatch.setitem(sys.modules, "jtop", _jtop_module(DownJtop(error)))
    assert names(available_sensors(["jtop", "tegrastats"])) == ["tegrastats"]


def test_where_the_service_answers_jtop_replaces_tegrastats(monkeypatch, tegrastats_here):
    client = RecordedJtop()
    monkeypatch.setitem(sys.modules, "jtop", _jtop_module(client))
    found = available_sensors(["process", "jtop", "tegrastats"])
    assert names(found) == ["process", "jtop"] and tegrastats_here == []  # tegrastats not even started
    assert client.started and found[1].sample()["board_power_w"] == 5.133
    # Asked for by name alone, tegrastats is still what the user gets.
    assert names(available_sensors(["tegrastats"])) == ["tegrastats"]


def test_registry_tries_jtop_before_tegrastats():
    order = list(SENSORS)
    assert order.index("jtop") < order.index("tegrastats")
    module, cls = SENSORS["jtop"].split(":")
    assert getattr(importlib.import_module(module), cls) is JtopSensor and JtopSensor.name == "jtop"


@pytest.mark.skipif(importlib.util.find_spec("jtop") is not None, reason="jetson-stats is installed here")
def test_no_jtop_here():
    assert JtopSensor.detect() is None
