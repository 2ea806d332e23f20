"""External power meters the kernel exposes through hwmon: TI INA2xx (ina209, ina219, ina226, ina230,
ina231, ina233, ina238, ina260) and INA3221 chips wired into a board's supply.

The kernel's hwmon ABI (Documentation/hwmon/sysfs-interface.rst, ina2xx.rst, ina3221.rst) lays each
chip out as ``/sys/class/hwmon/hwmonN/`` with ``name`` (the driver's prefix) and, per channel N:
``powerN_input`` in microwatts where the chip computes power (the INA2xx family), else
``inN_input`` (bus voltage, mV) and ``currN_input`` (mA), whose product is the power (INA3221, three
channels; its in4-in7 are shunt voltages and curr4 a sum, never a channel of their own). ``inN_label``
names a channel where the device tree gave it a name (``VDD_IN`` on a Jetson's INA3221).
A channel that is disabled (``inN_enable`` 0) or fails to read (-ENODATA) is absent, never 0.
Each channel is ``<chip>_<label>_power_w`` (or ``<chip>_<N>_power_w`` unlabelled, ``<chip>_power_w``
for a one-channel chip), and the energy path integrates it into J/token like any other power.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from edgeprof.bench.resources.base import ChannelSensor
from edgeprof.sysfs import read_int, read_text

HWMON = "/sys/class/hwmon"
_CHIP = re.compile(r"^ina\d+")  # the INA family's driver prefixes: ina219, ina226, ina3221, ...
_THREE_CHANNEL = "ina3221"




def _metric_name(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def _hwmon_index(folder: Path) -> int:
    suffix = folder.name.removeprefix("hwmon")
    return int(suffix) if suffix.isdigit() else -1


@dataclass(frozen=True)
class Channel:
    metric: str
    folder: Path
    index: int
    computed: bool  # the chip reports power itself (powerN_input); else volts x amps

    def read(self) -> float | None:
        if self.computed:
            microwatts = read_int(self.folder / f"power{self.index}_input")
            return None if microwatts is None else microwatts / 1e6
        millivolts = read_int(self.folder / f"in{self.index}_input")
        milliamps = read_int(self.folder / f"curr{self.index}_input")
        if millivolts is None or milliamps is None:
            return None
        return millivolts * milliamps / 1e6


def _channels_of(folder: Path, chip: str) -> list[tuple[int, bool, str | None]]:
    """(channel, computed, label) for each channel of one chip that can give power."""
    found = []
    for path in sorted(folder.glob("power*_input")):
        index = path.name.removeprefix("power").removesuffix("_input")
        if index.isdigit():
            label = read_text(folder / f"power{index}_label") or read_text(folder / f"in{index}_label")
            found.append((int(index), True, label))
    if found or chip != _THREE_CHANNEL:
        return found
    for index in (1, 2, 3):
        if (folder / f"in{index}_input").exists() and (folder / f"curr{index}_input").exists():
            if read_text(folder / f"in{index}_enable") == "0":
                continue
            found.append((index, False, read_text(folder / f"in{index}_label")))
    return found


def find_channels(root: str | Path = HWMON) -> list[Channel]:
    """Every INA channel under ``root`` (a /sys/class/hwmon) that reads a power now."""
    try:
        folders = sorted((d for d in Path(root).iterdir() if d.name.startswith("hwmon")), key=_hwmon_index)
    except OSError:
        return []
    chips = [(d, read_text(d / "name") or "") for d in folders]
    chips = [(d, name) for d, name in chips if _CHIP.match(name)]
    repeated = {name for _, name in chips if sum(1 for _, other in chips if other == name) > 1}
    channels = []
    for folder, name in chips:
        chip = _metric_name(name) + (f"_{_hwmon_index(folder)}" if name in repeated else "")
        candidates = _channels_of(folder, name)
        for index, computed, label in candidates:
            if label:
                metric = f"{chip}_{_metric_name(label)}_power_w"
            else:
                metric = f"{chip}_power_w" if len(candidates) == 1 else f"{chip}_{index}_power_w"
            channel = Channel(metric, folder, index, computed)
            if channel.read() is not None:
                channels.append(channel)
    return channels


class PowerMeterSensor(ChannelSensor):
    name = "power_meter"
    ROOT = HWMON
    find = staticmethod(find_channels)
