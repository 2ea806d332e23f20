"""x86 CPU energy (Intel RAPL, and AMD through the same driver) from ``/sys/class/powercap``.

Each ``intel-rapl:N`` zone (a package or psys) and ``intel-rapl:N:M`` subzone (core, uncore, dram)
has a cumulative ``energy_uj`` counter that wraps at ``max_energy_range_uj``. Since Linux 5.10 the
counter is readable by root only (CVE-2020-8694), so for most users this sensor is not available.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from edgeprof.bench.resources.base import ChannelSensor
from edgeprof.sysfs import read_int

POWERCAP = "/sys/class/powercap"
# intel-rapl-mmio:N duplicates the package zone through MMIO: counting both would count twice.
_ZONE_DIR = re.compile(r"^intel-rapl:(\d+)(?::(\d+))?$")




def _metric_name(zone_name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", zone_name.lower()).strip("_")


@dataclass
class _Zone:
    """One counter and the state that unwraps it into a value that only grows."""

    metric: str
    energy_path: Path
    max_range_uj: int | None
    last_uj: int = -1
    offset_uj: int = 0

    def read(self) -> float | None:
        raw = read_int(self.energy_path)
        if raw is None:
            return None
        if 0 <= raw < self.last_uj:
            # Wrapped past max_energy_range_uj (often ~262 kJ: about 45 minutes of a 100 W package).
            # Without a known range, assume the counter restarted from about where it was.
            self.offset_uj += self.max_range_uj if self.max_range_uj else self.last_uj
        self.last_uj = raw
        return (raw + self.offset_uj) / 1e6


def _zone_key(directory: Path) -> tuple[int, int]:
    m = _ZONE_DIR.match(directory.name)
    assert m is not None
    return int(m.group(1)), int(m.group(2) or -1)


def find_zones(root: str | Path = POWERCAP) -> list[_Zone]:
    """The RAPL zones under ``root`` whose energy counter this process can read."""
    base = Path(root)
    try:
        dirs = sorted((d for d in base.iterdir() if _ZONE_DIR.match(d.name)), key=_zone_key)
    except OSError:
        return []
    found: list[tuple[str, int, Path, int | None]] = []
    for d in dirs:
        try:
            name = (d / "name").read_text().strip()
        except OSError:
            continue
        if not name or read_int(d / "energy_uj") is None:
            continue
        found.append((_metric_name(name), _zone_key(d)[0], d / "energy_uj", read_int(d / "max_energy_range_uj")))
    # Two sockets each have a "dram" and a "core" subzone: tell them apart by their package.
    seen = Counter(name for name, *_ in found)
    return [_Zone(f"rapl_{name}_{package}_energy_j" if seen[name] > 1 else f"rapl_{name}_energy_j", path, max_uj)
            for name, package, path, max_uj in found]


class RaplSensor(ChannelSensor):
    name = "rapl"
    ROOT = POWERCAP
    find = staticmethod(find_zones)
