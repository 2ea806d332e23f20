"""Raspberry Pi: SoC temperature, CPU clock, the firmware's throttling flags and, on a Pi 5, power.

A Pi throttles silently on heat and under-voltage, which changes tokens/s more than anything else;
``vcgencmd get_throttled`` is the only place that says so. A Pi 5's PMIC also meters its rails:
``vcgencmd pmic_read_adc`` prints each rail's current and voltage, which pair into watts, and
their sum is ``pi_pmic_power_w`` (the energy path integrates it into J/token). That sum is what the
PMIC meters, not what the supply delivers: the 5 V loads it does not regulate (USB devices, a fan,
an NVMe HAT) and its own conversion losses are outside it, so it reads below a USB-C power meter.
``pi_ext5v_v`` is the supply voltage as the PMIC sees it. Earlier Pis have no such meter.
Thermal zones and cpufreq come from sysfs (cheap); ``vcgencmd`` costs a process spawn, so it
runs at most once per ``command_interval_s``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

Runner = Callable[[list[str]], "str | None"]  # vcgencmd arguments -> its stdout, None when it failed

_TEMP = re.compile(r"temp=(-?\d+(?:\.\d+)?)'C")
_THROTTLED = re.compile(r"throttled=(0x[0-9a-fA-F]+|\d+)")
# bit -> name; bit + 16 is the "has occurred since boot" version of the same condition.
_THROTTLE_BITS = {0: "undervoltage", 1: "freq_capped", 2: "throttled", 3: "soft_temp_limit"}
# ``  VDD_CORE_A current(7)=0.75012000A`` / ``     EXT5V_V volt(24)=5.06788000V``: the rail, then A or V.
_ADC = re.compile(r"^\s*(\S+)_([AV])\s+(?:current|volt)\(\d+\)=(-?\d+(?:\.\d+)?)[AV]\s*$", re.MULTILINE)
COMMAND_INTERVAL_S = 1.0  # the longest a vcgencmd reading may be stale; each refresh spawns a process per command


def parse_measure_temp(text: str) -> float | None:
    """``temp=48.3'C`` -> 48.3 (None for anything else, e.g. a VCHI error message)."""
    m = _TEMP.search(text)
    return float(m.group(1)) if m else None


def parse_get_throttled(text: str) -> dict[str, float]:
    """``throttled=0x50005`` -> the raw flags plus one 0/1 value per condition, now and since boot."""
    m = _THROTTLED.search(text)
    if not m:
        return {}
    flags = int(m.group(1), 0)
    out = {"throttled_flags": float(flags)}
    for bit, name in _THROTTLE_BITS.items():
        out[f"{name}_now"] = float(flags >> bit & 1)
        out[f"{name}_occurred"] = float(flags >> (bit + 16) & 1)
    return out


def parse_pmic_read_adc(text: str) -> dict[str, float]:
    """A Pi 5's ``vcgencmd pmic_read_adc`` -> watts.

    Each rail prints a current (``<RAIL>_A``) and a voltage (``<RAIL>_V``) line, not always in
    the same order; they are paired by name. ``pi_pmic_power_w`` is the sum over the rails that
    have both, ``pi_vdd_core_power_w`` the SoC core rail (the CPU) alone and ``pi_ext5v_v`` the
    supply voltage (a voltage-only channel, like ``BATT_V``). Anything else (a Pi without the PMIC
    answers ``error=1 error_msg="Command not registered"``) gives {}.
    """
    readings: dict[str, dict[str, float]] = {"A": {}, "V": {}}
    for rail, unit, value in _ADC.findall(text):
        readings[unit][rail] = float(value)
    amps, volts = readings["A"], readings["V"]
    watts = {rail: amps[rail] * volts[rail] for rail in amps if rail in volts}
    out: dict[str, float] = {}
    if watts:
        out["pi_pmic_power_w"] = sum(watts.values())
    if "VDD_CORE" in watts:
        out["pi_vdd_core_power_w"] = watts["VDD_CORE"]
    if "EXT5V" in volts:
        out["pi_ext5v_v"] = volts["EXT5V"]
    return out


def _metric_name(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _read_thousandths(path: Path) -> float | None:
    """A sysfs integer divided by 1000 (millidegrees -> degrees, kHz -> MHz); None if unreadable."""
    raw = _read_text(path)
    try:
        return int(raw.strip()) / 1000.0 if raw is not None else None
    except ValueError:
        return None


def _zone_index(zone: Path) -> int:
    suffix = zone.name.removeprefix("thermal_zone")
    return int(suffix) if suffix.isdigit() else -1


def read_thermal_zones(thermal_dir: str | Path = "/sys/class/thermal") -> dict[str, float]:
    """Every ``thermal_zone*`` as ``temp_<type>_c`` (generic Linux: Pi, Rockchip, Jetson, laptops).

    A zone whose sensor errors on read (common for disabled zones) is left out; a second zone of
    the same type gets its zone number appended rather than overwriting the first.
    """
    out: dict[str, float] = {}
    for zone in sorted(Path(thermal_dir).glob("thermal_zone*"), key=_zone_index):
        celsius = _read_thousandths(zone / "temp")
        if celsius is None:
            continue
        kind = _metric_name(_read_text(zone / "type") or "") or f"zone{_zone_index(zone)}"
        key = f"temp_{kind}_c"
        if key in out:
            key = f"temp_{kind}_{_zone_index(zone)}_c"
        out[key] = celsius
    return out


def vcgencmd_runner() -> Runner | None:
    """A runner for the real ``vcgencmd``, or None where it is not installed."""
    path = shutil.which("vcgencmd")
    if path is None:
        return None

    def run(args: list[str]) -> str | None:
        try:
            done = subprocess.run([path, *args], capture_output=True, text=True, timeout=2)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout if done.returncode == 0 else None

    return run


def is_raspberry_pi(root: str | Path = "/") -> bool:
    model = _read_text(Path(root) / "proc/device-tree/model")
    return model is not None and "Raspberry Pi" in model


class RaspberryPiSensor:
    name = "raspberry_pi"

    def __init__(self, root: str | Path = "/", run: Runner | None = None, command_interval_s: float | None = None):
        self.root = Path(root)
        self._run = run
        self.command_interval_s = COMMAND_INTERVAL_S if command_interval_s is None else command_interval_s
        self._commands: dict[str, float] = {}
        self._commands_at = float("-inf")
        self._pmic: bool | None = None  # whether pmic_read_adc answers here (a Pi 5); None: not asked yet

    @classmethod
    def detect(cls, root: str | Path = "/", run: Runner | None = None) -> RaspberryPiSensor | None:
        if not is_raspberry_pi(root):
            return None
        return cls(root, run if run is not None else vcgencmd_runner())

    def start(self) -> None:
        self._commands_at = float("-inf")

    def _from_vcgencmd(self) -> dict[str, float]:
        """vcgencmd readings, refreshed at most every ``command_interval_s``: a spawn per sample
        would steal CPU from the benchmark on a four-core board."""
        if self._run is None:
            return {}
        now = time.monotonic()
        if now - self._commands_at >= self.command_interval_s:
            values: dict[str, float] = {}
            temp = parse_measure_temp(self._run(["measure_temp"]) or "")
            if temp is not None:
                values["soc_temp_c"] = temp
            values.update(parse_get_throttled(self._run(["get_throttled"]) or ""))
            values.update(self._power())
            self._commands, self._commands_at = values, now
        return dict(self._commands)

    def _power(self) -> dict[str, float]:
        """The PMIC's readings; a board whose first answer has none (before the Pi 5) is not asked again."""
        if self._run is None or self._pmic is False:
            return {}
        values = parse_pmic_read_adc(self._run(["pmic_read_adc"]) or "")
        if self._pmic is None:
            self._pmic = bool(values)
        return values

    def _cpu_clock(self) -> dict[str, float]:
        mhz = _read_thousandths(self.root / "sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq")
        return {} if mhz is None else {"cpu_clock_mhz": mhz}

    def sample(self) -> dict[str, float]:
        thermal_dir = self.root / "sys/class/thermal"
        values = read_thermal_zones(thermal_dir)
        values.update(self._cpu_clock())
        values.update(self._from_vcgencmd())
        if "soc_temp_c" not in values:
            fallback = _read_thousandths(thermal_dir / "thermal_zone0/temp")
            if fallback is not None:
                values["soc_temp_c"] = fallback
        return values

    def stop(self) -> None:
        pass
