"""Raspberry Pi: SoC temperature, CPU clock and the firmware's throttling flags.

A Pi has no power sensor, but it throttles silently on heat and under-voltage, which changes
tokens/s more than anything else; ``vcgencmd get_throttled`` is the only place that says so.
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

    def __init__(self, root: str | Path = "/", run: Runner | None = None, command_interval_s: float = 1.0):
        self.root = Path(root)
        self._run = run
        self.command_interval_s = command_interval_s
        self._commands: dict[str, float] = {}
        self._commands_at = float("-inf")

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
            self._commands, self._commands_at = values, now
        return dict(self._commands)

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
