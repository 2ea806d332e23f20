"""The devices edgeprof is for (issue 17): a Pi 5's PMIC power, external INA power meters, the device
configuration every row records (governor, swap, model storage, Jetson power mode, L4T, CUDA, Pi
firmware) with its warnings, ARM CPU names, and peak RSS off Linux.

Board output comes from tests/board_outputs.py, where each constant names the public page or file it
was copied from; sysfs and procfs trees are built in tmp_path as the kernel documents them, and
commands are injected functions (or, for the bench row, a stand-in vcgencmd on PATH).
"""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import pytest
from board_outputs import (
    JETSON_NANO_CPUINFO,
    JETSON_NANO_JETSON_CLOCKS_SHOW,
    JETSON_NANO_NV_TEGRA_RELEASE,
    JETSON_NANO_NVPMODEL_CONF,
    ORIN_NANO_JETSON_CLOCKS_SHOW,
    ORIN_NANO_NVPMODEL_15W,
    ORIN_NANO_SUPER_MODEL,
    ORIN_NANO_SUPER_NV_TEGRA_RELEASE,
    ORIN_NANO_SUPER_NVPMODEL_Q,
    PI3_CPUINFO_32BIT,
    PI5_CPUINFO,
    PI5_PMIC_LOADED,
    PI5_PMIC_LOADED_RAILS,
    PI5_PMIC_PILOMAR,
    PI5_PMIC_PILOMAR_RAILS,
    PI5_VCGENCMD_VERSION,
    THOR_NVPMODEL_Q,
)
from click.testing import CliRunner

from edgeprof.bench import device_config as config_module
from edgeprof.bench import peak_rss
from edgeprof.bench.device_config import (
    config_warnings,
    cpufreq,
    device_config,
    fastest_mode,
    jetson,
    parse_jetson_clocks_show,
    parse_l4t_release,
    parse_nvpmodel_conf,
    parse_nvpmodel_query,
    parse_vcgencmd_version,
    raspberry_pi,
    run_command,
    storage_of,
    swap,
)
from edgeprof.bench.resources import Monitor
from edgeprof.bench.resources import raspberry_pi as pi_module
from edgeprof.bench.resources.power_meter import PowerMeterSensor
from edgeprof.bench.resources.raspberry_pi import RaspberryPiSensor, parse_pmic_read_adc
from edgeprof.bench.resources.summary import summarize
from edgeprof.bench.system import cpu_model, system_info
from edgeprof.cli.main import cli


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def rail_watts(rails: dict[str, tuple[float, float]]) -> float:
    return sum(amps * volts for amps, volts in rails.values())


# --- Raspberry Pi 5: PMIC power ---------------------------------------------------------------------

@pytest.mark.parametrize("text, rails, ext5v", [(PI5_PMIC_LOADED, PI5_PMIC_LOADED_RAILS, 5.06788),
                                                (PI5_PMIC_PILOMAR, PI5_PMIC_PILOMAR_RAILS, 4.9245)])
def test_pmic_read_adc_pairs_every_rail_into_watts(text, rails, ext5v):
    values = parse_pmic_read_adc(text)
    assert values == pytest.approx({"pi_pmic_power_w": rail_watts(rails),
                                    "pi_vdd_core_power_w": rails["VDD_CORE"][0] * rails["VDD_CORE"][1],
                                    "pi_ext5v_v": ext5v}, rel=1e-12)


def test_pmic_figures_of_the_recorded_outputs():
    """The loaded board draws 10.8 W on its rails, 9.76 W of it in the CPU core; the other 5.9 W."""
    loaded, other = parse_pmic_read_adc(PI5_PMIC_LOADED), parse_pmic_read_adc(PI5_PMIC_PILOMAR)
    assert loaded["pi_pmic_power_w"] == pytest.approx(10.7999, abs=1e-4)
    assert loaded["pi_vdd_core_power_w"] == pytest.approx(9.7614, abs=1e-4)
    assert other["pi_pmic_power_w"] == pytest.approx(5.9216, abs=1e-4)
    assert "BATT" not in str(loaded)  # a voltage without a current is no power


@pytest.mark.parametrize("text", ["", 'error=1 error_msg="Command not registered"\n', "temp=48.3'C\n",
                                  "  BATT_V volt(25)=nanV\n", "EXT5V_V volt(24)=5.0V\n  VDD_CORE_A current(7)=1.0V\n"])
def test_pmic_read_adc_without_rails_gives_no_power(text):
    values = parse_pmic_read_adc(text)
    assert "pi_pmic_power_w" not in values and "pi_vdd_core_power_w" not in values


def make_pi5(root: Path) -> Path:
    write(root / "proc/device-tree/model", "Raspberry Pi 5 Model B Rev 1.0\x00")
    write(root / "sys/class/thermal/thermal_zone0/type", "cpu-thermal\n")
    write(root / "sys/class/thermal/thermal_zone0/temp", "52450\n")
    return root


class Vcgencmd:
    """vcgencmd as a function: a Pi 5 whose pmic_read_adc alternates between the two recorded outputs."""

    def __init__(self, pmic: list[str | None] | None = None):
        self.pmic = pmic if pmic is not None else [PI5_PMIC_LOADED, PI5_PMIC_PILOMAR]
        self.calls: list[str] = []

    def __call__(self, args: list[str]) -> str | None:
        self.calls.append(args[0])
        if args[0] == "pmic_read_adc":
            return self.pmic[self.calls.count("pmic_read_adc") % len(self.pmic) - 1]
        return {"measure_temp": "temp=52.1'C\n", "get_throttled": "throttled=0x0\n",
                "version": PI5_VCGENCMD_VERSION}.get(args[0])


def test_pi5_sensor_reports_power_at_the_vcgencmd_rate(tmp_path):
    run = Vcgencmd()
    sensor = RaspberryPiSensor.detect(make_pi5(tmp_path), run=run)
    assert sensor is not None
    sensor.command_interval_s = 60
    sensor.start()
    first, second = sensor.sample(), sensor.sample()
    assert first == second  # within the interval: the same readings, no new process
    assert run.calls == ["measure_temp", "get_throttled", "pmic_read_adc"]
    assert first["pi_pmic_power_w"] == pytest.approx(rail_watts(PI5_PMIC_LOADED_RAILS))
    assert first["pi_ext5v_v"] == 5.06788 and first["soc_temp_c"] == 52.1


def test_a_pi_without_the_pmic_is_not_asked_again(tmp_path):
    run = Vcgencmd(pmic=['error=1 error_msg="Command not registered"\n'])
    sensor = RaspberryPiSensor(make_pi5(tmp_path), run=run, command_interval_s=0)
    for _ in range(3):
        assert "pi_pmic_power_w" not in sensor.sample()
    assert run.calls.count("pmic_read_adc") == 1 and run.calls.count("get_throttled") == 3


def test_monitor_integrates_pi5_power_into_energy_per_phase(tmp_path):
    sensor = RaspberryPiSensor(make_pi5(tmp_path), run=Vcgencmd(), command_interval_s=0)
    with Monitor([sensor], interval=0.005) as monitor:
        monitor.mark("prefill")
        time.sleep(0.1)
        monitor.mark("decode")
        time.sleep(0.1)
    summary = summarize(monitor.readings)
    low, high = rail_watts(PI5_PMIC_PILOMAR_RAILS), rail_watts(PI5_PMIC_LOADED_RAILS)
    for phase in ("prefill", "decode"):
        seconds, joules = summary[phase]["seconds"], summary[phase]["pi_pmic_energy_j"]
        assert low * seconds - 1e-9 <= joules <= high * seconds + 1e-9
        assert summary[phase]["pi_vdd_core_energy_j"] < joules
        assert summary[phase]["pi_ext5v_v_max"] == 5.06788


FAKE_VCGENCMD = """#!/bin/sh
# vcgencmd on a Pi 5: pmic_read_adc alternates between two recorded outputs (tests/board_outputs.py)
dir=$(dirname "$0")
case "$1" in
  pmic_read_adc)
    n=$(cat "$dir/turn" 2>/dev/null || echo 0)
    echo $((1 - n)) > "$dir/turn"
    cat "$dir/pmic$n.txt" ;;
  measure_temp) echo "temp=52.1'C" ;;
  get_throttled) echo "throttled=0x0" ;;
  version) cat "$dir/version.txt" ;;
  *) echo 'error=1 error_msg="Command not registered"'; exit 255 ;;
esac
"""


@pytest.fixture
def fake_vcgencmd(tmp_path, monkeypatch) -> Path:
    """A vcgencmd on PATH that prints the recorded Pi 5 outputs, on a machine taken for a Pi."""
    folder = tmp_path / "bin"
    script = write(folder / "vcgencmd", FAKE_VCGENCMD)
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    write(folder / "pmic0.txt", PI5_PMIC_LOADED)
    write(folder / "pmic1.txt", PI5_PMIC_PILOMAR)
    write(folder / "version.txt", PI5_VCGENCMD_VERSION)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(pi_module, "is_raspberry_pi", lambda root="/": True)
    monkeypatch.setattr(config_module, "is_raspberry_pi", lambda root="/": True)
    monkeypatch.setattr(pi_module, "COMMAND_INTERVAL_S", 0.02)  # a real Pi: 1 s, and phases of seconds
    return folder


def test_bench_row_on_a_pi5_has_joules_per_token_and_the_report_shows_them(fake_vcgencmd, tiny_levels, tmp_path):
    from edgeprof.plot.document import to_markdown
    from edgeprof.plot.leaderboard import Budget
    from edgeprof.plot.report import build
    from edgeprof.results.read import load_results

    model = tiny_levels("Q4_0")["Q4_0"]
    results = tmp_path / "results"
    done = CliRunner().invoke(cli, ["bench", str(model), "-p", "8", "-n", "1500", "-r", "1", "--interval", "0.005",
                                    "--sensors", "raspberry_pi,process", "--results", str(results), "--no-progress"])
    assert done.exit_code == 0, done.output
    (row,) = [json.loads(line) for line in (results / "bench.jsonl").read_text().splitlines()]
    decode = row["resources"]["decode"]
    low, high = rail_watts(PI5_PMIC_PILOMAR_RAILS), rail_watts(PI5_PMIC_LOADED_RAILS)
    assert low <= decode["pi_pmic_power_w_mean"] <= high
    assert "decode_pi_pmic_j_per_token" in row["energy"], row["energy"]  # "unmeasured" says why, if not
    per_token = row["energy"]["decode_pi_pmic_j_per_token"]
    tokens = row["metrics"]["tokens_generated_mean"]
    assert low * decode["seconds"] / tokens * 0.99 <= per_token <= high * decode["seconds"] / tokens * 1.01
    assert row["system"]["raspberry_pi"] == {"firmware": "2024/09/23 14:02:56, version 26826259 (release) "
                                                          "(embedded)", "get_throttled": "0x0", "now": [],
                                             "since_boot": []}
    markdown = to_markdown(build(load_results([results]), [], Budget()), tmp_path / "report")
    assert "decode J/token" in markdown and f"{per_token:.3g} (pi_pmic" in markdown
    # the idle draw read before the sweep, from the same recorded rails, and the figure net of it
    assert low * 0.99 <= row["energy"]["idle_w"]["pi_pmic"] <= high * 1.01
    net = row["energy"].get("decode_pi_pmic_net_j_per_token")
    assert net is None or 0 <= net < per_token
    assert "version 26826259" in markdown  # the hardware table carries the firmware


# --- external power meters: INA2xx / INA3221 through hwmon -----------------------------------------

def make_hwmon(root: Path) -> Path:
    """/sys/class/hwmon as Documentation/hwmon/{sysfs-interface,ina2xx,ina3221}.rst lay it out."""
    write(root / "hwmon0/name", "cpu_thermal\n")  # not a power meter
    write(root / "hwmon0/temp1_input", "48312\n")
    ina219 = root / "hwmon1"  # INA2xx: in0 shunt (mV), in1 bus (mV), curr1 (mA), power1 (uW)
    for name, value in (("name", "ina219"), ("in0_input", "12"), ("in1_input", "5084"), ("curr1_input", "1180"),
                        ("power1_input", "5998000"), ("shunt1_resistor", "100000")):
        write(ina219 / name, value + "\n")
    ina3221 = root / "hwmon2"  # three labelled channels; bus mV x current mA; in4-6 shunt uV, curr4 a sum
    channels = {1: ("VDD_IN", "5016", "1210"), 2: ("VDD_CPU_GPU_CV", "5008", "410"), 3: ("VDD_SOC", "5012", "0")}
    for index, (label, millivolts, milliamps) in channels.items():
        write(ina3221 / f"in{index}_label", label + "\n")
        write(ina3221 / f"in{index}_input", millivolts + "\n")
        write(ina3221 / f"curr{index}_input", milliamps + "\n")
        write(ina3221 / f"in{index}_enable", "1\n")
        write(ina3221 / f"in{index + 3}_input", "2400\n")
    write(ina3221 / "name", "ina3221\n")
    write(ina3221 / "curr4_input", "1620\n")
    write(ina3221 / "in7_input", "7200\n")
    write(ina3221 / "in7_label", "sum of shunt voltages\n")
    return root


def test_power_meter_reads_ina2xx_power_and_ina3221_volts_times_amps(tmp_path):
    sensor = PowerMeterSensor.detect(make_hwmon(tmp_path))
    assert sensor is not None
    assert sensor.sample() == pytest.approx({
        "ina219_power_w": 5.998,  # power1_input in microwatts, not in1 x curr1
        "ina3221_vdd_in_power_w": 5.016 * 1.210, "ina3221_vdd_cpu_gpu_cv_power_w": 5.008 * 0.410,
        "ina3221_vdd_soc_power_w": 0.0,
    })


def test_power_meter_channels_disabled_unreadable_or_doubled(tmp_path):
    root = make_hwmon(tmp_path)
    write(root / "hwmon2/in2_enable", "0\n")  # disabled: absent, not 0
    (root / "hwmon2/curr3_input").unlink()  # no current: no power
    write(root / "hwmon3/name", "ina219\n")  # a second ina219: each is told apart by its hwmon number
    write(root / "hwmon3/power1_input", "2500000\n")
    assert PowerMeterSensor(root).metrics == ["ina219_1_power_w", "ina3221_vdd_in_power_w", "ina219_3_power_w"]
    sensor = PowerMeterSensor(root)
    (root / "hwmon3/power1_input").unlink()  # a chip that stops answering drops out of the readings
    assert "ina219_3_power_w" not in sensor.sample()


def test_power_meter_unlabelled_channels_are_numbered(tmp_path):
    for index in (1, 2):
        write(tmp_path / f"hwmon4/in{index}_input", "12000\n")
        write(tmp_path / f"hwmon4/curr{index}_input", f"{index * 100}\n")
    write(tmp_path / "hwmon4/name", "ina3221\n")
    assert PowerMeterSensor(tmp_path).sample() == pytest.approx({"ina3221_1_power_w": 1.2, "ina3221_2_power_w": 2.4})


def test_no_power_meter_is_no_sensor(tmp_path):
    assert PowerMeterSensor.detect(tmp_path / "absent") is None
    write(tmp_path / "hwmon0/name", "nvme\n")
    write(tmp_path / "hwmon0/temp1_input", "39850\n")
    assert PowerMeterSensor.detect(tmp_path) is None


def test_power_meter_feeds_the_energy_path(tmp_path):
    root = make_hwmon(tmp_path)
    meter = root / "hwmon1/power1_input"
    sensor = PowerMeterSensor(root)

    class Changing:  # the chip updates between readings: 6 W, then 4 W, then 6 W...
        name = "power_meter"
        count = 0

        def start(self): pass

        def stop(self): pass

        def sample(self):
            Changing.count += 1
            meter.write_text("6000000\n" if Changing.count % 2 else "4000000\n")
            return sensor.sample()

    with Monitor([Changing()], interval=0.005) as monitor:
        monitor.mark("decode")
        time.sleep(0.1)
    decode = summarize(monitor.readings)["decode"]
    assert 4.0 * decode["seconds"] - 1e-9 <= decode["ina219_energy_j"] <= 6.0 * decode["seconds"] + 1e-9


# --- CPU names from /proc/cpuinfo ----------------------------------------------------------------------

@pytest.mark.parametrize("cpuinfo, expected", [
    (PI5_CPUINFO, "4x Cortex-A76"),  # no model name; Hardware says BCM2835, Model names the board
    (PI3_CPUINFO_32BIT, "4x Cortex-A53"),  # a model name that is only the ISA
    (JETSON_NANO_CPUINFO, "4x Cortex-A57"),  # no model name, Hardware or Model at all
])
def test_arm_cpu_named_from_its_part_ids(tmp_path, cpuinfo, expected):
    write(tmp_path / "proc/cpuinfo", cpuinfo)
    assert cpu_model(tmp_path) == expected


def test_cpu_name_falls_back_to_model_then_device_tree(tmp_path):
    write(tmp_path / "proc/cpuinfo", PI5_CPUINFO.replace("0xd0b", "0xfff"))  # a core the table does not know
    assert cpu_model(tmp_path) == "Raspberry Pi 5 Model B Rev 1.0"
    write(tmp_path / "proc/cpuinfo", "processor\t: 0\nBogoMIPS\t: 50.00\n")
    write(tmp_path / "proc/device-tree/model", ORIN_NANO_SUPER_MODEL + "\x00")
    assert cpu_model(tmp_path) == ORIN_NANO_SUPER_MODEL
    write(tmp_path / "proc/cpuinfo", "processor\t: 0\nmodel name\t: AMD Ryzen 7 7840U w/ Radeon  780M Graphics\n")
    assert cpu_model(tmp_path) == "AMD Ryzen 7 7840U w/ Radeon  780M Graphics"


def test_big_little_cores_are_counted_per_kind(tmp_path):
    blocks = [f"processor\t: {i}\nCPU implementer\t: 0x41\nCPU part\t: {'0xd05' if i < 4 else '0xd0b'}\n"
              for i in range(8)]
    write(tmp_path / "proc/cpuinfo", "\n".join(blocks))
    assert cpu_model(tmp_path) == "4x Cortex-A55 + 4x Cortex-A76"


# --- cpufreq, swap -------------------------------------------------------------------------------------

def make_policy(root: Path, index: int, cpus: str, governor: str, low: int, high: int, hw_high: int,
                driver: str = "cpufreq-dt") -> None:
    folder = root / f"sys/devices/system/cpu/cpufreq/policy{index}"
    for name, value in (("related_cpus", cpus), ("scaling_governor", governor), ("scaling_driver", driver),
                        ("scaling_min_freq", low), ("scaling_max_freq", high), ("cpuinfo_min_freq", 600000),
                        ("cpuinfo_max_freq", hw_high)):
        write(folder / name, f"{value}\n")


def test_cpufreq_policies_and_their_warnings(tmp_path):
    make_policy(tmp_path, 0, "0 1 2 3", "powersave", 600000, 1500000, 2400000)
    make_policy(tmp_path, 4, "4 5 6 7", "performance", 600000, 2400000, 2400000)
    policies = cpufreq(tmp_path)
    assert policies == [
        {"cpus": "0-3", "governor": "powersave", "driver": "cpufreq-dt", "min_mhz": 600.0, "max_mhz": 1500.0,
         "hardware_min_mhz": 600.0, "hardware_max_mhz": 2400.0},
        {"cpus": "4-7", "governor": "performance", "driver": "cpufreq-dt", "min_mhz": 600.0, "max_mhz": 2400.0,
         "hardware_min_mhz": 600.0, "hardware_max_mhz": 2400.0}]
    assert config_warnings({"cpufreq": policies}) == [
        "CPUs 0-3 run the powersave governor, which holds them at their lowest clock; set schedutil, ondemand or "
        "performance",
        "CPUs 0-3 are capped at 1500 MHz of their 2400 MHz"]


def test_intel_pstate_powersave_scales_and_is_no_warning(tmp_path):
    make_policy(tmp_path, 0, "0 1", "powersave", 800000, 4700000, 4700000, driver="intel_pstate")
    assert config_warnings({"cpufreq": cpufreq(tmp_path)}) == []


def test_swap_and_zram_from_proc_swaps(tmp_path):
    write(tmp_path / "proc/swaps", "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
                                   "/dev/zram0                              partition\t507104\t\t131072\t\t5\n"
                                   "/dev/zram1                              partition\t507104\t\t0\t\t5\n"
                                   "/swapfile                               file\t\t2097148\t\t10240\t\t-2\n")
    assert swap(tmp_path) == {"total_mb": 3038.4, "used_mb": 138.0, "zram_total_mb": 990.4, "zram_used_mb": 128.0,
                              "devices": 3}
    (warning,) = config_warnings({"swap": swap(tmp_path)})
    assert warning.startswith("138 MiB of swap in use (128 MiB of it compressed in RAM by zram)")
    write(tmp_path / "proc/swaps", "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n")
    assert swap(tmp_path)["total_mb"] == 0 and config_warnings({"swap": swap(tmp_path)}) == []


# --- the storage a model file sits on --------------------------------------------------------------------

def make_pi_storage(root: Path) -> Path:
    """A Pi booted from an SD card with an NVMe drive: /proc/mounts and the block devices' sysfs, laid
    out as on a Pi (github.com/project-machine/disko/pull/97 shows `ls -l /sys/block` there:
    mmcblk0 -> ../devices/platform/soc/3f202000.mmc/mmc_host/mmc0/mmc0:59b4/block/mmcblk0)."""
    write(root / "proc/mounts", "/dev/mmcblk0p2 / ext4 rw,noatime 0 0\n"
                                "/dev/mmcblk0p1 /boot/firmware vfat rw,relatime 0 0\n"
                                "/dev/nvme0n1p1 /mnt/fast\\040models ext4 rw,relatime 0 0\n"
                                "tmpfs /run tmpfs rw,nosuid 0 0\n")
    card = root / "sys/devices/platform/soc/3f202000.mmc/mmc_host/mmc0/mmc0:59b4"
    write(card / "type", "SD\n")
    write(card / "name", "SD32G\n")
    mmc = card / "block/mmcblk0"
    write(mmc / "queue/rotational", "0\n")
    write(mmc / "removable", "0\n")
    (mmc / "device").symlink_to("../../../mmc0:59b4")
    for part in ("mmcblk0p1", "mmcblk0p2"):
        write(mmc / part / "partition", part[-1] + "\n")
    nvme = root / "sys/devices/platform/axi/1000110000.pcie/nvme/nvme0/nvme0n1"
    write(nvme / "queue/rotational", "0\n")
    write(nvme / "device/model", "Samsung SSD 980 500GB\n")
    write(nvme / "nvme0n1p1/partition", "1\n")
    for folder, links in ((root / "sys/block", {"mmcblk0": mmc, "nvme0n1": nvme}),
                          (root / "sys/class/block", {"mmcblk0": mmc, "mmcblk0p1": mmc / "mmcblk0p1",
                                                      "mmcblk0p2": mmc / "mmcblk0p2", "nvme0n1": nvme,
                                                      "nvme0n1p1": nvme / "nvme0n1p1"})):
        folder.mkdir(parents=True, exist_ok=True)
        for name, target in links.items():
            (folder / name).symlink_to(os.path.relpath(target, folder))
    return root


def test_model_storage_sd_card_and_nvme(tmp_path):
    root = make_pi_storage(tmp_path)
    assert storage_of("/home/pi/models/tiny.gguf", root) == {
        "mount_point": "/", "fstype": "ext4", "source": "/dev/mmcblk0p2", "device": "mmcblk0p2", "disk": "mmcblk0",
        "kind": "SD card", "sd_card": True, "rotational": False, "disk_model": "SD32G"}
    nvme = storage_of("/mnt/fast models/q4.gguf", root)
    assert nvme["mount_point"] == "/mnt/fast models" and nvme["kind"] == "NVMe" and nvme["sd_card"] is False
    assert nvme["disk"] == "nvme0n1" and nvme["disk_model"] == "Samsung SSD 980 500GB"
    assert storage_of("/mnt/fast modelsX/a.gguf", root)["disk"] == "mmcblk0"  # a prefix is not a parent folder
    with (root / "proc/mounts").open("a") as mounts:  # the SD card mounted over the NVMe: the last mount is seen
        mounts.write("/dev/mmcblk0p2 /mnt/fast\\040models ext4 rw 0 0\n")
    assert storage_of("/mnt/fast models/q4.gguf", root)["disk"] == "mmcblk0"


def test_emmc_is_not_an_sd_card_and_unknown_devices_stay_partial(tmp_path):
    root = make_pi_storage(tmp_path)
    write(root / "sys/devices/platform/soc/3f202000.mmc/mmc_host/mmc0/mmc0:59b4/type", "MMC\n")
    assert storage_of("/data/a.gguf", root)["kind"] == "eMMC"
    write(root / "proc/mounts", "overlay / overlay rw 0 0\n")  # a container: no block device to name
    assert storage_of("/models/a.gguf", root) == {"mount_point": "/", "fstype": "overlay", "source": "overlay"}
    assert storage_of("/models/a.gguf", tmp_path / "not-linux") is None


# --- Jetson --------------------------------------------------------------------------------------------

class Commands:
    """Tools as functions: each command's recorded output, None for a tool that is absent or fails."""

    def __init__(self, answers: dict[str, str | None]):
        self.answers, self.calls = answers, []

    def __call__(self, args: list[str]) -> str | None:
        self.calls.append(" ".join(args))
        return self.answers.get(" ".join(args))


def test_jetson_release_and_mode_parsers_on_recorded_output():
    assert parse_l4t_release(ORIN_NANO_SUPER_NV_TEGRA_RELEASE) == "36.4.3"
    assert parse_l4t_release(JETSON_NANO_NV_TEGRA_RELEASE) == "32.7.6"
    assert parse_nvpmodel_query(ORIN_NANO_SUPER_NVPMODEL_Q) == ("MAXN_SUPER", 2)
    assert parse_nvpmodel_query(ORIN_NANO_NVPMODEL_15W) == ("15W", 0)
    assert parse_nvpmodel_query(THOR_NVPMODEL_Q) == ("MAXN", 0)
    assert parse_nvpmodel_conf(JETSON_NANO_NVPMODEL_CONF) == {0: "MAXN", 1: "5W"}
    assert fastest_mode({0: "MAXN", 1: "5W"}) == (0, "MAXN")
    assert fastest_mode({0: "15W", 1: "7W"}) == (0, "15W")  # an Orin Nano before the Super release
    xavier = {"power_mode": "MODE_20W_6CORE", "fastest_power_mode": "MODE_20W_2CORE", "fastest_power_mode_id": 6}
    assert config_warnings({"jetson": xavier}) == []  # the same budget, another core count: not a slower mode
    assert parse_jetson_clocks_show(ORIN_NANO_JETSON_CLOCKS_SHOW) is False
    assert parse_jetson_clocks_show(JETSON_NANO_JETSON_CLOCKS_SHOW) is False
    # What jetson_clocks does to the same board: every CPU's and the GPU's MinFreq raised to MaxFreq.
    pinned = (ORIN_NANO_JETSON_CLOCKS_SHOW.replace("MinFreq=729600", "MinFreq=1510400")
              .replace("GPU MinFreq=306000000", "GPU MinFreq=624750000"))
    assert parse_jetson_clocks_show(pinned) is True
    assert parse_jetson_clocks_show("Error: Run this script(/usr/bin/jetson_clocks) as a root user\n") is None


def make_orin_nano_super(root: Path) -> Path:
    write(root / "etc/nv_tegra_release", ORIN_NANO_SUPER_NV_TEGRA_RELEASE)
    write(root / "proc/device-tree/model", ORIN_NANO_SUPER_MODEL + "\x00")
    # CUDA's version.json in the layout NVIDIA's toolkits write (the version is not a recording).
    write(root / "usr/local/cuda/version.json", json.dumps({"cuda": {"name": "CUDA SDK", "version": "12.6.68"}}))
    for index in range(6):  # jetson_clocks not run: each CPU free between its limits
        write(root / f"sys/devices/system/cpu/cpu{index}/cpufreq/scaling_min_freq", "729600\n")
        write(root / f"sys/devices/system/cpu/cpu{index}/cpufreq/scaling_max_freq", "1728000\n")
    return root


def test_orin_nano_super_in_its_fastest_mode(tmp_path):
    root = make_orin_nano_super(tmp_path)
    # The mode names JetPack 6.2 gives this module (not a recording: only the POWER_MODEL lines, in the
    # format of the recorded Nano conf).
    write(root / "etc/nvpmodel.conf", "< POWER_MODEL ID=0 NAME=15W >\n< POWER_MODEL ID=1 NAME=25W >\n"
                                      "< POWER_MODEL ID=2 NAME=MAXN_SUPER >\n< PM_CONFIG DEFAULT=2 >\n")
    run = Commands({"nvpmodel -q": ORIN_NANO_SUPER_NVPMODEL_Q})  # jetson_clocks --show needs root: None
    config = jetson(root, run)
    assert config == {"l4t": "36.4.3", "power_mode": "MAXN_SUPER", "power_mode_id": 2,
                      "fastest_power_mode": "MAXN_SUPER", "fastest_power_mode_id": 2, "jetson_clocks": "off",
                      "jetson_clocks_from": "cpufreq", "cuda": "12.6.68"}
    assert config_warnings({"jetson": config}) == []
    run.answers["nvpmodel -q"] = ORIN_NANO_NVPMODEL_15W
    slow = jetson(root, run)
    assert config_warnings({"jetson": slow}) == [
        "Jetson power mode 15W is not the board's fastest (MAXN_SUPER): sudo nvpmodel -m 2"]


def test_jetson_clocks_from_its_own_output_and_nvpmodel_from_its_status_file(tmp_path):
    root = make_orin_nano_super(tmp_path)
    write(root / "etc/nvpmodel.conf", JETSON_NANO_NVPMODEL_CONF)
    write(root / "var/lib/nvpmodel/status", "pmode:0001\n")  # nvpmodel's own record of the mode it set
    write(root / "usr/local/cuda/version.json", "not json")
    write(root / "usr/local/cuda/version.txt", "CUDA Version 10.2.300\n")  # CUDA 10's format
    config = jetson(root, Commands({"jetson_clocks --show": JETSON_NANO_JETSON_CLOCKS_SHOW}))
    assert config["power_mode"] == "5W" and config["power_mode_id"] == 1 and config["fastest_power_mode"] == "MAXN"
    assert config["jetson_clocks"] == "off" and config["jetson_clocks_from"] == "jetson_clocks --show"
    assert config["cuda"] == "10.2.300"
    for index in range(6):  # jetson_clocks ran: min = max
        write(root / f"sys/devices/system/cpu/cpu{index}/cpufreq/scaling_min_freq", "1728000\n")
    assert jetson(root, Commands({}))["jetson_clocks"] == "on"


def test_not_a_jetson_runs_no_jetson_tool(tmp_path):
    run = Commands({})
    assert jetson(tmp_path, run) is None and run.calls == []


# --- Raspberry Pi firmware and throttling ------------------------------------------------------------

def test_pi_firmware_and_throttling_since_boot(tmp_path):
    root = make_pi5(tmp_path)
    assert parse_vcgencmd_version(PI5_VCGENCMD_VERSION) == "2024/09/23 14:02:56, version 26826259 (release) (embedded)"
    config = raspberry_pi(root, Commands({"vcgencmd version": PI5_VCGENCMD_VERSION,
                                          "vcgencmd get_throttled": "throttled=0x50005\n"}))
    assert config == {"firmware": "2024/09/23 14:02:56, version 26826259 (release) (embedded)",
                      "get_throttled": "0x50005", "now": ["undervoltage", "throttled"],
                      "since_boot": ["undervoltage", "throttled"]}
    warnings = config_warnings({"raspberry_pi": config})
    assert len(warnings) == 2 and warnings[0].startswith("the Pi saw under-voltage since boot (get_throttled 0x50005)")
    assert raspberry_pi(root, Commands({})) == {}  # vcgencmd missing: nothing, and no error
    assert raspberry_pi(tmp_path / "not-a-pi", Commands({})) is None


# --- the whole record ------------------------------------------------------------------------------------

def test_device_config_on_an_empty_tree_is_absent_not_an_error(tmp_path):
    run = Commands({})
    assert device_config([tmp_path / "m.gguf"], root=tmp_path, run=run) == {
        "cpufreq": None, "swap": None, "model_storage": {str(tmp_path / "m.gguf"): None}, "jetson": None,
        "raspberry_pi": None, "config_warnings": []}
    assert run.calls == []
    assert run_command(["edgeprof-no-such-tool", "--version"]) is None


def test_system_info_records_the_configuration_of_this_machine(tmp_path):
    model = write(tmp_path / "model.gguf", "")
    info = system_info("here", [model])
    for key in ("cpufreq", "swap", "model_storage", "jetson", "raspberry_pi", "config_warnings"):
        assert key in info
    assert isinstance(info["config_warnings"], list)
    if Path("/proc/mounts").exists():
        assert info["model_storage"][str(model)]["mount_point"].startswith("/")


# --- peak RSS where there is no VmHWM --------------------------------------------------------------

def test_peak_rss_on_linux_says_it_is_per_cell(monkeypatch, tmp_path):
    status = write(tmp_path / "status", "Name:\tpython\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\n")
    monkeypatch.setattr(peak_rss, "STATUS", str(status))
    monkeypatch.setattr(peak_rss, "CLEAR_REFS", str(tmp_path / "clear_refs"))
    assert peak_rss.reset_peak_rss() is True
    assert peak_rss.peak_rss_fields() == {"peak_rss_mb": 200.0, "peak_rss_source": "VmHWM, since the cell started"}
    monkeypatch.setattr(peak_rss, "CLEAR_REFS", str(tmp_path / "absent" / "clear_refs"))
    assert peak_rss.reset_peak_rss() is False
    assert peak_rss.peak_rss()[1] == "VmHWM, since the process started (clear_refs not writable)"


def test_peak_rss_off_linux_falls_back_to_psutil_then_getrusage(monkeypatch, tmp_path):
    import resource
    from types import SimpleNamespace

    import psutil

    monkeypatch.setattr(peak_rss, "STATUS", str(tmp_path / "no-proc" / "status"))  # macOS, Windows
    memory = SimpleNamespace(rss=100 * 2**20, peak_wset=300 * 2**20)  # Windows: psutil's peak working set
    monkeypatch.setattr(psutil.Process, "memory_info", lambda self: memory)
    assert peak_rss.peak_rss() == (300.0, "psutil peak_wset, since the process started")
    del memory.peak_wset  # macOS: psutil has no peak; getrusage does, in bytes there
    monkeypatch.setattr(resource, "getrusage", lambda who: SimpleNamespace(ru_maxrss=256 * 2**20))
    monkeypatch.setattr(peak_rss.sys, "platform", "darwin")
    assert peak_rss.peak_rss() == (256.0, "getrusage ru_maxrss, since the process started")
    monkeypatch.setattr(peak_rss.sys, "platform", "freebsd14")  # the BSDs: KiB
    monkeypatch.setattr(resource, "getrusage", lambda who: SimpleNamespace(ru_maxrss=512 * 1024))
    assert peak_rss.peak_rss()[0] == 512.0
    monkeypatch.setattr(resource, "getrusage", lambda who: SimpleNamespace(ru_maxrss=0))
    assert peak_rss.peak_rss() == (None, None)


def test_power_meter_is_a_registered_sensor():
    import importlib

    from edgeprof.bench.resources.base import SENSORS

    module, cls = SENSORS["power_meter"].split(":")
    assert getattr(importlib.import_module(module), cls) is PowerMeterSensor and PowerMeterSensor.name == "power_meter"
