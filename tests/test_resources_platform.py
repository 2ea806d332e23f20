"""Platform sensors (Jetson tegrastats, x86 RAPL, Raspberry Pi) on recorded output and fake sysfs trees.

Everything here runs offline on any machine: the tegrastats lines are recorded real output, the
sysfs trees are built in tmp_path, and vcgencmd is an injected function.
"""

from __future__ import annotations

import importlib
import itertools
import sys
import time
from pathlib import Path

import pytest

from edgeprof.bench.resources import Monitor
from edgeprof.bench.resources.base import SENSORS
from edgeprof.bench.resources.rapl import RaplSensor
from edgeprof.bench.resources.raspberry_pi import (
    RaspberryPiSensor,
    parse_get_throttled,
    parse_measure_temp,
    read_thermal_zones,
)
from edgeprof.bench.resources.summary import summarize
from edgeprof.bench.resources.tegrastats import TegrastatsSensor, parse_tegrastats

# --- recorded tegrastats lines -------------------------------------------------------------------
# Jetson Orin Nano Super, JetPack 6.2 / L4T 36.4.3: the BUSY line of
# github.com/vivh3/edge-inference-pipeline tests/test_tegrastats.py ("copied from a real log").
ORIN_NANO_JP62 = (
    "10-08-2026 04:35:02 RAM 6712/7620MB (lfb 12x4MB) SWAP 369/3810MB (cached 8MB) "
    "CPU [38%@1497,2%@729,1%@729,0%@729,1%@729,0%@729] EMC_FREQ 61%@2133 "
    "GR3D_FREQ 99%@[612] NVDEC off NVJPG off VIC off OFA off APE 200 "
    "cpu@57.125C soc2@55.093C soc0@56.625C gpu@58.625C tj@58.312C soc1@55.937C "
    "VDD_IN 16321mW/11204mW VDD_CPU_GPU_CV 7104mW/4944mW VDD_SOC 3120mW/3659mW"
)
# Same board and log, the IDLE line.
ORIN_NANO_JP62_IDLE = (
    "10-08-2026 04:38:21 RAM 1343/7620MB (lfb 157x4MB) SWAP 165/3810MB (cached 3MB) "
    "CPU [0%@1497,0%@729,0%@729,0%@729,0%@729,0%@729] EMC_FREQ 15%@204 "
    "GR3D_FREQ 0%@[305] NVDEC off NVJPG off VIC off OFA off APE 200 "
    "cpu@48.562C soc2@46.593C soc0@48.625C gpu@49.625C tj@49.312C soc1@47.937C "
    "VDD_IN 5251mW/8535mW VDD_CPU_GPU_CV 512mW/1944mW VDD_SOC 2720mW/3659mW"
)
# Jetson AGX Orin 64GB, L4T 36.4.4 (JetPack 6.2.1): github.com/lesomnus/tegra-exporter
# stats/parse_test.go. One clock per GPC in GR3D_FREQ, and no VDD_IN rail on this module.
AGX_ORIN_JP6 = (
    "05-09-2026 18:42:06 RAM 18207/62841MB (lfb 466x4MB) SWAP 86/31420MB (cached 0MB) "
    "CPU [14%@2188,5%@2112,8%@2035,14%@2201,46%@1267,47%@1267,2%@1267,10%@1267,4%@1036,5%@1036,"
    "6%@1036,10%@1036] EMC_FREQ 3%@2133 GR3D_FREQ 0%@[0,0] NVENC 79%@166 NVDEC off NVJPG off "
    "NVJPG1 off VIC 36%@115 OFA off NVDLA0 off NVDLA1 off PVA0_FREQ off APE 174 cpu@52.562C "
    "soc2@48.437C soc0@49.093C tj@52.562C soc1@49.656C VDD_GPU_SOC 2412mW/2412mW "
    "VDD_CPU_CV 1607mW/1607mW VIN_SYS_5V0 4707mW/4707mW"
)
# Jetson AGX Orin 64GB, JetPack 5 (April 2023): `sudo tegrastats` in the blog post
# https://catid.io/posts/orin_opt/ ("AI on Jetson Orin"). Powered-down sensors read -256C,
# unconnected monitor channels print as "NC", and the second GPC has its own GR3D2_FREQ.
AGX_ORIN_JP5 = (
    "04-24-2023 00:01:24 RAM 1282/62795MB (lfb 15152x4MB) SWAP 0/31398MB (cached 0MB) "
    "CPU [0%@729,0%@729,0%@729,0%@729,0%@729,0%@729,0%@729,0%@729,0%@729,0%@729,0%@729,0%@729] "
    "EMC_FREQ 0%@2133 GR3D_FREQ 0%@0 GR3D2_FREQ 0%@0 VIC_FREQ 729 APE 174 CV0@-256C CPU@42.593C "
    "Tboard@32C SOC2@39.343C Tdiode@33.25C SOC0@39.375C CV1@-256C GPU@-256C tj@42.593C SOC1@40.468C "
    "CV2@-256C VDD_GPU_SOC 2399mW/2399mW VDD_CPU_CV 400mW/400mW VIN_SYS_5V0 4032mW/4032mW "
    "NC 0mW/0mW VDDQ_VDD2_1V8AO 301mW/301mW NC 0mW/0mW"
)
# Jetson Xavier NX, JetPack 5.1.2: github.com/waggle-sensor/jetson-exporter tegrastats_test.go
# (TestParseTegraStatsXavierNXJetPack512).
XAVIER_NX_JP512 = (
    "07-09-2024 13:31:31 RAM 3168/6851MB (lfb 2x4MB) SWAP 161/3426MB (cached 0MB) "
    "CPU [23%@1397,17%@1192,16%@1190,13%@1190,23%@1190,10%@1190] EMC_FREQ 2%@204 GR3D_FREQ 0%@[114] "
    "VIC_FREQ 115 APE 150 AUX@45C CPU@46.5C thermal@45.6C AO@45C GPU@45.5C PMIC@50C "
    "VDD_IN 2763mW/2846mW VDD_CPU_GPU_CV 650mW/670mW VDD_SOC 650mW/711mW"
)
# Jetson Xavier NX, JetPack 4.1.1 (rails in mW without the unit): same file,
# TestParseTegraStatsXavierNXJetPack411.
XAVIER_NX_JP411 = (
    "RAM 5246/7771MB (lfb 7x4MB) SWAP 983/20269MB (cached 280MB) "
    "CPU [47%@1420,23%@1420,32%@1420,22%@1420,31%@1420,96%@1420] EMC_FREQ 2%@1600 GR3D_FREQ 0%@1109 "
    "APE 150 MTS fg 1% bg 9% AO@29C GPU@31.5C PMIC@100C AUX@30C CPU@33.5C thermal@31.35C "
    "VDD_IN 6140/5510 VDD_CPU_GPU_CV 2706/2119 VDD_SOC 1074/1051"
)
# Jetson Nano, JetPack 4.6.1 (POM_5V_* rails, IRAM): same file, TestParseTegraStatsXavierNanoJetPack461.
NANO_JP461 = (
    "RAM 1923/3964MB (lfb 2x2MB) SWAP 191/1982MB (cached 6MB) IRAM 0/252kB(lfb 252kB) "
    "CPU [5%@1224,4%@1224,3%@1224,6%@1224] EMC_FREQ 0%@1600 GR3D_FREQ 0%@76 APE 25 PLL@37C CPU@40C "
    "PMIC@50C GPU@40C AO@45C thermal@40C POM_5V_IN 1750/1628 POM_5V_GPU 0/0 POM_5V_CPU 366/406"
)
# Jetson TX1, L4T 28.1 (one clock for all cores, lowercase "cpu", GR3D without _FREQ):
# github.com/hordiales/jetson-tx1-dev SCRIPTS.md.
TX1_L4T28 = (
    "RAM 3607/3983MB (lfb 47x4MB) SWAP 873/8192MB (cached 281MB) cpu [17%,11%,65%,0%]@1734 "
    "EMC 1%@1600 APE 25 GR3D 39%@76"
)
# Jetson Thor, L4T 38.4.0: github.com/lesomnus/tegra-exporter stats/parse_test.go. GR3D_FREQ has
# clocks but no load.
THOR_L4T38 = (
    "05-17-2026 10:00:32 RAM 4208/125773MB (lfb 31x4MB) SWAP 0/2048MB (cached 0MB) "
    "CPU [1%@972,0%@972,0%@972,0%@972,1%@972,0%@972,1%@972,1%@972,0%@972,0%@972,3%@972,0%@972,0%@972,"
    "1%@972] EMC_FREQ 0%@665 GR3D_FREQ @[0,0,0] NVENC0_FREQ @0 NVENC1_FREQ @0 NVDEC0_FREQ @0 "
    "NVDEC1_FREQ @0 NVJPG0_FREQ @0 VIC off OFA_FREQ @0 PVA0_FREQ off APE 300 cpu@34.468C tj@34.5C "
    "soc012@33.781C soc345@34.5C VDD_GPU 0mW/0mW VDD_CPU_SOC_MSS 4165mW/4165mW VIN_SYS_5V0 4126mW/4126mW"
)


def approx(expected: dict[str, float]):
    return pytest.approx(expected, rel=1e-12, abs=1e-12)


# One recorded line per board and JetPack, and every value its parser must read from it.
TEGRASTATS_LINES = {
    "orin_nano_jetpack6": (ORIN_NANO_JP62, {
        "ram_used_mb": 6712, "ram_total_mb": 7620, "swap_used_mb": 369, "swap_total_mb": 3810,
        "cpu_load_percent": 7.0, "cpu_freq_max_mhz": 1497,
        "emc_util_percent": 61, "emc_freq_mhz": 2133, "gpu_util_percent": 99, "gpu_freq_mhz": 612,
        "temp_cpu_c": 57.125, "temp_soc2_c": 55.093, "temp_soc0_c": 56.625, "temp_gpu_c": 58.625,
        "temp_tj_c": 58.312, "temp_soc1_c": 55.937,
        "rail_vdd_in_power_w": 16.321, "rail_vdd_cpu_gpu_cv_power_w": 7.104, "rail_vdd_soc_power_w": 3.12,
        "board_power_w": 16.321,  # the current reading, not the running average (11204 mW)
    }),
    "agx_orin_jetpack6_has_rails_but_no_board_input": (AGX_ORIN_JP6, {
        "ram_used_mb": 18207, "ram_total_mb": 62841, "swap_used_mb": 86, "swap_total_mb": 31420,
        "cpu_load_percent": 171 / 12, "cpu_freq_max_mhz": 2201,
        "emc_util_percent": 3, "emc_freq_mhz": 2133, "gpu_util_percent": 0, "gpu_freq_mhz": 0,
        "temp_cpu_c": 52.562, "temp_soc2_c": 48.437, "temp_soc0_c": 49.093, "temp_tj_c": 52.562,
        "temp_soc1_c": 49.656,
        "rail_vdd_gpu_soc_power_w": 2.412, "rail_vdd_cpu_cv_power_w": 1.607, "rail_vin_sys_5v0_power_w": 4.707,
    }),
    "xavier_nx_jetpack5": (XAVIER_NX_JP512, {
        "ram_used_mb": 3168, "ram_total_mb": 6851, "swap_used_mb": 161, "swap_total_mb": 3426,
        "cpu_load_percent": 17.0, "cpu_freq_max_mhz": 1397,
        "emc_util_percent": 2, "emc_freq_mhz": 204, "gpu_util_percent": 0, "gpu_freq_mhz": 114,
        "temp_aux_c": 45, "temp_cpu_c": 46.5, "temp_thermal_c": 45.6, "temp_ao_c": 45, "temp_gpu_c": 45.5,
        "temp_pmic_c": 50,
        "rail_vdd_in_power_w": 2.763, "rail_vdd_cpu_gpu_cv_power_w": 0.65, "rail_vdd_soc_power_w": 0.65,
        "board_power_w": 2.763,
    }),
    "xavier_nx_jetpack4_rails_without_unit": (XAVIER_NX_JP411, {
        "ram_used_mb": 5246, "ram_total_mb": 7771, "swap_used_mb": 983, "swap_total_mb": 20269,
        "cpu_load_percent": 251 / 6, "cpu_freq_max_mhz": 1420,
        "emc_util_percent": 2, "emc_freq_mhz": 1600, "gpu_util_percent": 0, "gpu_freq_mhz": 1109,
        "temp_ao_c": 29, "temp_gpu_c": 31.5, "temp_pmic_c": 100, "temp_aux_c": 30, "temp_cpu_c": 33.5,
        "temp_thermal_c": 31.35,
        "rail_vdd_in_power_w": 6.14, "rail_vdd_cpu_gpu_cv_power_w": 2.706, "rail_vdd_soc_power_w": 1.074,
        "board_power_w": 6.14,
    }),
    "nano_jetpack4_pom_rails": (NANO_JP461, {
        "ram_used_mb": 1923, "ram_total_mb": 3964, "swap_used_mb": 191, "swap_total_mb": 1982,
        "cpu_load_percent": 4.5, "cpu_freq_max_mhz": 1224,
        "emc_util_percent": 0, "emc_freq_mhz": 1600, "gpu_util_percent": 0, "gpu_freq_mhz": 76,
        "temp_pll_c": 37, "temp_cpu_c": 40, "temp_pmic_c": 50, "temp_gpu_c": 40, "temp_ao_c": 45,
        "temp_thermal_c": 40,
        "rail_pom_5v_in_power_w": 1.75, "rail_pom_5v_gpu_power_w": 0.0, "rail_pom_5v_cpu_power_w": 0.366,
        "board_power_w": 1.75,
    }),
}


@pytest.mark.parametrize("board", TEGRASTATS_LINES)
def test_parse_recorded_lines(board):
    line, expected = TEGRASTATS_LINES[board]
    assert parse_tegrastats(line) == approx(expected)


def test_parse_agx_orin_jetpack5_drops_powered_down_sensors_and_unconnected_channels():
    values = parse_tegrastats(AGX_ORIN_JP5)
    assert values == approx({
        "ram_used_mb": 1282, "ram_total_mb": 62795, "swap_used_mb": 0, "swap_total_mb": 31398,
        "cpu_load_percent": 0, "cpu_freq_max_mhz": 729,
        "emc_util_percent": 0, "emc_freq_mhz": 2133, "gpu_util_percent": 0, "gpu_freq_mhz": 0,
        "temp_cpu_c": 42.593, "temp_tboard_c": 32, "temp_soc2_c": 39.343, "temp_tdiode_c": 33.25,
        "temp_soc0_c": 39.375, "temp_tj_c": 42.593, "temp_soc1_c": 40.468,
        "rail_vdd_gpu_soc_power_w": 2.399, "rail_vdd_cpu_cv_power_w": 0.4, "rail_vin_sys_5v0_power_w": 4.032,
        "rail_vddq_vdd2_1v8ao_power_w": 0.301,
    })
    assert "temp_cv0_c" not in values and "temp_gpu_c" not in values  # -256C: absent, not a reading


def test_parse_tx1_shared_cpu_clock():
    values = parse_tegrastats(TX1_L4T28)
    assert values == approx({"ram_used_mb": 3607, "ram_total_mb": 3983, "swap_used_mb": 873,
                             "swap_total_mb": 8192, "cpu_load_percent": 93 / 4, "cpu_freq_max_mhz": 1734})


def test_parse_thor_gpu_clocks_without_load():
    values = parse_tegrastats(THOR_L4T38)
    assert "gpu_util_percent" not in values and values["gpu_freq_mhz"] == 0
    assert values["rail_vdd_cpu_soc_mss_power_w"] == pytest.approx(4.165)
    assert values["temp_soc345_c"] == 34.5 and "board_power_w" not in values


@pytest.mark.parametrize("line", ["", "\n", "hello world", "RAM usage is high", "tegrastats: permission denied",
                                  "VIC off APE 25 NVENC 716"])
def test_parse_garbage_is_empty(line):
    assert parse_tegrastats(line) == {}


def test_every_tegrastats_metric_carries_a_unit():
    for line in (ORIN_NANO_JP62, AGX_ORIN_JP5, AGX_ORIN_JP6, XAVIER_NX_JP512, XAVIER_NX_JP411, NANO_JP461):
        for key in parse_tegrastats(line):
            assert key.endswith(("_mb", "_percent", "_mhz", "_c", "_power_w")), key


def test_tegrastats_sensor_reads_a_running_process():
    """The real subprocess path, with a stand-in that prints two recorded lines and keeps running."""
    script = ("import sys, time\n"
              f"for line in {[ORIN_NANO_JP62_IDLE, ORIN_NANO_JP62]!r}:\n"
              "    print(line, flush=True); time.sleep(0.05)\n"
              "time.sleep(30)\n")
    sensor = TegrastatsSensor(command=[sys.executable, "-c", script])
    sensor.start()
    try:
        deadline = time.monotonic() + 10
        while sensor.sample().get("gpu_util_percent") != 99 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sensor.sample() == parse_tegrastats(ORIN_NANO_JP62)
    finally:
        sensor.stop()
    assert sensor.sample() == {}  # the process is gone: no stale readings


def test_tegrastats_sensor_without_the_binary_reads_nothing():
    sensor = TegrastatsSensor(command=["/nonexistent/tegrastats", "--interval", "100"])
    sensor.start()
    assert sensor.sample() == {}
    sensor.stop()


def test_tegrastats_default_command_asks_for_the_interval():
    assert TegrastatsSensor(interval_ms=250).command[-3:] == ["tegrastats", "--interval", "250"]


def test_tegrastats_detect_needs_binary_and_jetson(tmp_path, monkeypatch):
    import edgeprof.bench.resources.tegrastats as module

    monkeypatch.setattr(module.shutil, "which", lambda name: f"/usr/bin/{name}")
    assert TegrastatsSensor.detect(root=tmp_path) is None  # tegrastats alone does not make a Jetson
    (tmp_path / "proc/device-tree").mkdir(parents=True)
    (tmp_path / "proc/device-tree/model").write_text("NVIDIA Jetson Orin Nano Developer Kit\x00")
    assert isinstance(TegrastatsSensor.detect(root=tmp_path), TegrastatsSensor)
    monkeypatch.setattr(module.shutil, "which", lambda name: None)
    assert TegrastatsSensor.detect(root=tmp_path) is None


# --- Monitor + summary with recorded tegrastats lines -----------------------------------------------

class RecordedTegrastats(TegrastatsSensor):
    """A tegrastats sensor fed from recorded lines, one line per reading, instead of a process."""

    def __init__(self, lines: list[str]):
        super().__init__(command=["unused"])
        self._lines = itertools.cycle(lines)

    def start(self) -> None:
        pass

    def sample(self) -> dict[str, float]:
        self.feed(next(self._lines))
        return super().sample()

    def stop(self) -> None:
        pass


def _trapezoid(readings, phase: str, key: str) -> float:
    """Energy the way a reader of the readings would compute it, independent of summary.py."""
    return sum(0.5 * (a.values[key] + b.values[key]) * (b.t - a.t)
               for a, b in zip(readings, readings[1:]) if a.phase == phase)


def test_monitor_turns_tegrastats_power_into_energy_per_phase():
    with Monitor([RecordedTegrastats([ORIN_NANO_JP62_IDLE, ORIN_NANO_JP62])], interval=0.01) as monitor:
        monitor.mark("prefill")
        time.sleep(0.1)  # at least five tegrastats updates (one per reading here) per phase
        monitor.mark("decode")
        time.sleep(0.1)
    summary = summarize(monitor.readings)
    for phase in ("prefill", "decode"):
        stats = summary[phase]
        assert stats["rail_vdd_in_energy_j"] == pytest.approx(_trapezoid(monitor.readings, phase,
                                                                         "rail_vdd_in_power_w"))
        assert stats["board_energy_j"] == pytest.approx(stats["rail_vdd_in_energy_j"])
        # Between the idle (5.251 W) and busy (16.321 W) lines for the whole phase.
        seconds = stats["seconds"]
        assert 5.251 * seconds - 1e-9 <= stats["rail_vdd_in_energy_j"] <= 16.321 * seconds + 1e-9
        assert stats["rail_vdd_soc_energy_j"] > 0
        # Which of the two lines a phase saw depends on thread timing; that it saw them does not.
        assert stats["gpu_util_percent_max"] in (0, 99) and stats["ram_used_mb_max"] in (1343, 6712)


# --- RAPL -------------------------------------------------------------------------------------------

MAX_RANGE_UJ = 262143328850  # a real max_energy_range_uj (Intel client parts)


def make_zone(root: Path, directory: str, name: str, energy_uj: int | None, max_uj: int | None = MAX_RANGE_UJ):
    zone = root / directory
    zone.mkdir(parents=True)
    (zone / "name").write_text(name + "\n")
    if energy_uj is not None:
        (zone / "energy_uj").write_text(f"{energy_uj}\n")
    if max_uj is not None:
        (zone / "max_energy_range_uj").write_text(f"{max_uj}\n")
    return zone


def set_energy(zone: Path, energy_uj: int) -> None:
    (zone / "energy_uj").write_text(f"{energy_uj}\n")


@pytest.fixture
def powercap(tmp_path) -> Path:
    """One socket as /sys/class/powercap shows it: the control type, the package, its subzones, MMIO."""
    root = tmp_path / "powercap"
    (root / "intel-rapl").mkdir(parents=True)  # the control type: no counter of its own
    make_zone(root, "intel-rapl:0", "package-0", 1_000_000)
    make_zone(root, "intel-rapl:0:0", "core", 400_000)
    make_zone(root, "intel-rapl:0:1", "uncore", 50_000)
    make_zone(root, "intel-rapl:0:2", "dram", 200_000, max_uj=65532610987)
    make_zone(root, "intel-rapl-mmio:0", "package-0", 999)  # the same package again through MMIO
    return root


def test_rapl_reads_every_zone_in_joules(powercap):
    sensor = RaplSensor.detect(powercap)
    assert sensor is not None
    sensor.start()
    assert sensor.sample() == approx({"rapl_package_0_energy_j": 1.0, "rapl_core_energy_j": 0.4,
                                       "rapl_uncore_energy_j": 0.05, "rapl_dram_energy_j": 0.2})
    sensor.stop()


def test_rapl_unwraps_the_counter(powercap):
    sensor = RaplSensor(powercap)
    package = powercap / "intel-rapl:0"
    set_energy(package, MAX_RANGE_UJ - 2_000_000)
    before = sensor.sample()["rapl_package_0_energy_j"]
    set_energy(package, 3_000_000)  # wrapped: 2 J to the top of the range, then 3 J more
    after = sensor.sample()["rapl_package_0_energy_j"]
    assert after - before == pytest.approx(5.0)
    set_energy(package, 4_000_000)
    assert sensor.sample()["rapl_package_0_energy_j"] - after == pytest.approx(1.0)  # the offset stays


def test_rapl_wrap_without_a_known_range_still_only_grows(tmp_path):
    root = tmp_path / "powercap"
    zone = make_zone(root, "intel-rapl:0", "package-0", 9_000_000, max_uj=None)
    sensor = RaplSensor(root)
    first = sensor.sample()["rapl_package_0_energy_j"]
    set_energy(zone, 1_000_000)
    assert sensor.sample()["rapl_package_0_energy_j"] > first


def test_rapl_two_sockets_keep_subzones_apart(tmp_path):
    root = tmp_path / "powercap"
    for socket in (0, 1):
        make_zone(root, f"intel-rapl:{socket}", f"package-{socket}", 1_000_000 * (socket + 1))
        make_zone(root, f"intel-rapl:{socket}:0", "dram", 100_000 * (socket + 1))
    assert RaplSensor(root).sample() == approx({"rapl_package_0_energy_j": 1.0, "rapl_package_1_energy_j": 2.0,
                                                 "rapl_dram_0_energy_j": 0.1, "rapl_dram_1_energy_j": 0.2})


def test_rapl_not_available_without_a_readable_counter(tmp_path, monkeypatch):
    assert RaplSensor.detect(tmp_path / "absent") is None
    root = tmp_path / "powercap"
    make_zone(root, "intel-rapl:0", "package-0", None)  # no energy_uj at all
    assert RaplSensor.detect(root) is None

    # Linux >= 5.10 makes energy_uj root-only; chmod cannot show that to a root test, a patched read can.
    make_zone(root, "intel-rapl:1", "package-1", 5_000_000)
    assert RaplSensor.detect(root).metrics == ["rapl_package_1_energy_j"]
    real_read_text = Path.read_text

    def denied(self: Path, *args, **kwargs):
        if self.name == "energy_uj":
            raise PermissionError(13, "Permission denied", str(self))
        return real_read_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", denied)
    assert RaplSensor.detect(root) is None


def test_rapl_counter_that_becomes_unreadable_is_absent_not_zero(powercap):
    sensor = RaplSensor(powercap)
    (powercap / "intel-rapl:0:2/energy_uj").unlink()
    values = sensor.sample()
    assert "rapl_dram_energy_j" not in values and values["rapl_package_0_energy_j"] == 1.0


# --- Raspberry Pi -----------------------------------------------------------------------------------

def make_pi(root: Path, model: str = "Raspberry Pi 4 Model B Rev 1.4\x00") -> Path:
    (root / "proc/device-tree").mkdir(parents=True)
    (root / "proc/device-tree/model").write_text(model)
    zone0 = root / "sys/class/thermal/thermal_zone0"
    zone0.mkdir(parents=True)
    (zone0 / "type").write_text("cpu-thermal\n")
    (zone0 / "temp").write_text("48312\n")
    broken = root / "sys/class/thermal/thermal_zone1"  # a zone without a readable sensor
    broken.mkdir()
    (broken / "type").write_text("gpu-thermal\n")
    cpufreq = root / "sys/devices/system/cpu/cpu0/cpufreq"
    cpufreq.mkdir(parents=True)
    (cpufreq / "scaling_cur_freq").write_text("1500000\n")
    return root


class FakeVcgencmd:
    """Answers like vcgencmd on a Pi 4 that saw under-voltage; counts its calls."""

    def __init__(self, answers: dict[str, str | None] | None = None):
        self.answers = answers or {"measure_temp": "temp=48.3'C\n", "get_throttled": "throttled=0x50005\n"}
        self.calls: list[list[str]] = []

    def __call__(self, args: list[str]) -> str | None:
        self.calls.append(args)
        return self.answers.get(args[0])


def test_parse_measure_temp():
    assert parse_measure_temp("temp=48.3'C\n") == 48.3
    assert parse_measure_temp("temp=-5.0'C") == -5.0
    assert parse_measure_temp("VCHI initialization failed") is None


@pytest.mark.parametrize("text, now, occurred", [
    ("throttled=0x0\n", set(), set()),
    ("throttled=0x50005\n", {"undervoltage", "throttled"}, {"undervoltage", "throttled"}),
    ("throttled=0x80008\n", {"soft_temp_limit"}, {"soft_temp_limit"}),
    ("throttled=0x20000\n", set(), {"freq_capped"}),
])
def test_parse_get_throttled(text, now, occurred):
    values = parse_get_throttled(text)
    assert values["throttled_flags"] == int(text.split("=")[1], 16)
    for name in ("undervoltage", "freq_capped", "throttled", "soft_temp_limit"):
        assert values[f"{name}_now"] == (1.0 if name in now else 0.0)
        assert values[f"{name}_occurred"] == (1.0 if name in occurred else 0.0)
    assert len(values) == 9 and not any(key.endswith("_percent") for key in values)


def test_parse_get_throttled_garbage():
    assert parse_get_throttled("error=1 error_msg=\"Command not registered\"") == {}


def test_raspberry_pi_sensor_with_vcgencmd(tmp_path):
    root = make_pi(tmp_path)
    sensor = RaspberryPiSensor.detect(root, run=FakeVcgencmd())
    assert sensor is not None
    sensor.start()
    assert sensor.sample() == approx({
        "soc_temp_c": 48.3, "temp_cpu_thermal_c": 48.312, "cpu_clock_mhz": 1500.0,
        **parse_get_throttled("throttled=0x50005"),
    })
    sensor.stop()


def test_raspberry_pi_sensor_without_vcgencmd_falls_back_to_sysfs(tmp_path):
    sensor = RaspberryPiSensor(make_pi(tmp_path), run=None)
    assert sensor.sample() == approx({"soc_temp_c": 48.312, "temp_cpu_thermal_c": 48.312, "cpu_clock_mhz": 1500.0})


def test_raspberry_pi_failing_vcgencmd_leaves_flags_absent(tmp_path):
    run = FakeVcgencmd({"measure_temp": None, "get_throttled": "VCHI initialization failed\n"})
    values = RaspberryPiSensor(make_pi(tmp_path), run=run).sample()
    assert values["soc_temp_c"] == 48.312 and "throttled_flags" not in values


def test_raspberry_pi_runs_vcgencmd_at_most_once_per_interval(tmp_path):
    run = FakeVcgencmd()
    sensor = RaspberryPiSensor(make_pi(tmp_path), run=run, command_interval_s=60)
    sensor.start()
    readings = [sensor.sample() for _ in range(3)]
    # measure_temp, get_throttled and pmic_read_adc, once (a Pi 4 answers no PMIC readings)
    assert run.calls == [["measure_temp"], ["get_throttled"], ["pmic_read_adc"]]
    assert all(r["throttled_flags"] == 0x50005 for r in readings)


def test_raspberry_pi_detect(tmp_path):
    assert RaspberryPiSensor.detect(tmp_path) is None  # no device tree at all
    jetson = make_pi(tmp_path / "jetson", model="NVIDIA Jetson Orin Nano Developer Kit\x00")
    assert RaspberryPiSensor.detect(jetson, run=FakeVcgencmd()) is None
    pi5 = make_pi(tmp_path / "pi5", model="Raspberry Pi 5 Model B Rev 1.0\x00")
    assert isinstance(RaspberryPiSensor.detect(pi5, run=FakeVcgencmd()), RaspberryPiSensor)


def test_read_thermal_zones_keeps_zones_of_one_type_apart(tmp_path):
    for index, (kind, milli) in enumerate([("cpu-thermal", "45000"), ("soc_thermal", "47500"),
                                           ("cpu-thermal", "46000"), ("bad", "not a number")]):
        zone = tmp_path / f"thermal_zone{index}"
        zone.mkdir()
        (zone / "type").write_text(kind + "\n")
        (zone / "temp").write_text(milli + "\n")
    assert read_thermal_zones(tmp_path) == {"temp_cpu_thermal_c": 45.0, "temp_soc_thermal_c": 47.5,
                                            "temp_cpu_thermal_2_c": 46.0}
    assert read_thermal_zones(tmp_path / "absent") == {}


# --- this machine -----------------------------------------------------------------------------------

def _host_model() -> str:
    try:
        return Path("/proc/device-tree/model").read_text(errors="replace")
    except OSError:
        return ""


@pytest.mark.skipif(Path("/etc/nv_tegra_release").exists() or "Jetson" in _host_model(), reason="a Jetson")
def test_no_tegrastats_here():
    assert TegrastatsSensor.detect() is None


@pytest.mark.skipif("Raspberry Pi" in _host_model(), reason="a Raspberry Pi")
def test_no_raspberry_pi_here():
    assert RaspberryPiSensor.detect() is None


@pytest.mark.parametrize("name", ["tegrastats", "rapl", "raspberry_pi"])
def test_registry_names_real_classes(name):
    module, cls = SENSORS[name].split(":")
    sensor_class = getattr(importlib.import_module(module), cls)
    assert sensor_class.name == name and callable(sensor_class.detect)
