"""NVIDIA Jetson boards through ``tegrastats``: memory, CPU/GPU load and clocks, temperatures, power rails.

Jetsons have no NVML; ``tegrastats`` is the one tool that exists on every JetPack and prints one
line per interval. Its format changed between releases (see ``parse_tegrastats``), so the parser
is a pure function tested against recorded lines, and the sensor only keeps the latest line.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
from pathlib import Path

# ``RAM 3168/6851MB`` (the word boundary keeps ``IRAM 0/252kB`` out).
_RAM = re.compile(r"\bRAM (\d+)/(\d+)([kMG]?)B\b")
_SWAP = re.compile(r"\bSWAP (\d+)/(\d+)([kMG]?)B\b")
# ``CPU [14%@2188,5%@2112,off]`` (per-core clocks) or ``CPU [17%,13%]@408`` (one shared clock).
_CPU = re.compile(r"\bCPU \[([^\]]*)\](?:@(\d+))?", re.IGNORECASE)
_CORE = re.compile(r"^(\d+)%(?:@(\d+))?$")
# ``GR3D_FREQ 0%@[305]``, ``0%@[0,0]`` (one clock per GPC), ``45%@1300``, ``0%`` or ``@[0,0,0]``.
_GR3D = re.compile(r"\bGR3D_FREQ (?:(\d+)%)?(?:@\[?([\d,]+)\]?)?")
# ``EMC_FREQ 3%@2133`` or ``EMC_FREQ 0%`` (no clock on some Orin releases).
_EMC = re.compile(r"\bEMC_FREQ (\d+)%(?:@(\d+))?")
# ``cpu@52.562C``, ``Tboard@32C``, ``GPU@-256C`` (the sensor is off).
_TEMP = re.compile(r"\b([A-Za-z][A-Za-z0-9_]*)@(-?\d+(?:\.\d+)?)C\b")
# ``VDD_IN 5012mW/5012mW`` (JetPack 5+) or ``POM_5V_IN 3474/3474`` / ``VDD_IN 6140/5510`` (older, mW).
_RAIL = re.compile(r"\b([A-Z][A-Z0-9_]*) (\d+)(?:mW)?/(\d+)(?:mW)?(?![\w/])")

_TO_MB = {"k": 1 / 1024, "": 1 / 2**20, "M": 1.0, "G": 1024.0}
_NOT_RAILS = {"RAM", "SWAP", "IRAM", "NC"}  # NC: an unconnected monitor channel on AGX Orin
_BOARD_RAILS = ("VDD_IN", "POM_5V_IN")  # the module's whole input, where the board measures it
_SENSOR_OFF_C = -200.0  # Orin prints -256C for a powered-down sensor: absent, not a reading
INTERVAL_MS = 100  # tegrastats' period (jtop's service is asked for the same): near the monitor's 50 ms


def _memory(line: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for pattern, prefix in ((_RAM, "ram"), (_SWAP, "swap")):
        m = pattern.search(line)
        if m:
            scale = _TO_MB[m.group(3)]
            out[f"{prefix}_used_mb"] = int(m.group(1)) * scale
            out[f"{prefix}_total_mb"] = int(m.group(2)) * scale
    return out


def _cpu(line: str) -> dict[str, float]:
    """Mean load over the online cores (``off`` cores are not idle cores) and the fastest core's clock."""
    m = _CPU.search(line)
    if not m:
        return {}
    loads, clocks = [], []
    for core in m.group(1).split(","):
        cm = _CORE.match(core.strip())
        if cm:
            loads.append(float(cm.group(1)))
            if cm.group(2):
                clocks.append(float(cm.group(2)))
    if m.group(2):
        clocks.append(float(m.group(2)))
    out: dict[str, float] = {}
    if loads:
        out["cpu_load_percent"] = sum(loads) / len(loads)
    if clocks:
        out["cpu_freq_max_mhz"] = max(clocks)
    return out


def _gpu_and_emc(line: str) -> dict[str, float]:
    out: dict[str, float] = {}
    m = _GR3D.search(line)
    if m:
        if m.group(1) is not None:
            out["gpu_util_percent"] = float(m.group(1))
        clocks = [float(c) for c in (m.group(2) or "").split(",") if c]
        if clocks:
            out["gpu_freq_mhz"] = max(clocks)  # one clock per GPC; they run together
    m = _EMC.search(line)
    if m:
        out["emc_util_percent"] = float(m.group(1))
        if m.group(2):
            out["emc_freq_mhz"] = float(m.group(2))
    return out


def _temperatures(line: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, value in _TEMP.findall(line):
        celsius = float(value)
        if celsius > _SENSOR_OFF_C:
            out[f"temp_{name.lower()}_c"] = celsius
    return out


def _rails(line: str) -> dict[str, float]:
    """Current (not running-average) power per rail in W; the input rail also as ``board_power_w``."""
    out: dict[str, float] = {}
    for name, current_mw, _average_mw in _RAIL.findall(line):
        if name in _NOT_RAILS:
            continue
        watts = int(current_mw) / 1000.0
        out[f"rail_{name.lower()}_power_w"] = watts
        if name in _BOARD_RAILS:
            out["board_power_w"] = watts
    return out


def parse_tegrastats(line: str) -> dict[str, float]:
    """One tegrastats line -> metrics. Unknown fields are skipped; a line with none known gives {}.

    Handles the JetPack 4 format (Nano/Xavier: ``POM_5V_IN 1750/1628``, ``GR3D_FREQ 0%@76``) and the
    JetPack 5/6 one (Orin: ``VDD_IN 5251mW/8535mW``, ``GR3D_FREQ 0%@[305]``, lowercase sensors).
    """
    values: dict[str, float] = {}
    for part in (_memory, _cpu, _gpu_and_emc, _temperatures, _rails):
        values.update(part(line))
    return values


def _is_jetson(root: Path) -> bool:
    if (root / "etc/nv_tegra_release").exists():
        return True
    try:
        model = (root / "proc/device-tree/model").read_text(errors="replace")
    except OSError:
        return False
    return "Jetson" in model or "NVIDIA" in model


class TegrastatsSensor:
    """Runs ``tegrastats --interval <ms>`` for the whole measurement; ``sample`` returns its latest line.

    tegrastats averages load over its own interval, so a reading is at most one interval old;
    keep ``interval_ms`` near the monitor's interval.
    """

    name = "tegrastats"

    def __init__(self, interval_ms: int = INTERVAL_MS, command: list[str] | None = None):
        self.interval_ms = interval_ms
        self.command = command or self._default_command(interval_ms)
        self._latest: dict[str, float] = {}
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._reader: threading.Thread | None = None

    @staticmethod
    def _default_command(interval_ms: int) -> list[str]:
        # Line-buffer its stdout where stdbuf exists: a block-buffered pipe would deliver lines
        # several intervals late and smear readings across phases.
        stdbuf = ["stdbuf", "-oL"] if shutil.which("stdbuf") else []
        return [*stdbuf, "tegrastats", "--interval", str(interval_ms)]

    @classmethod
    def detect(cls, root: str | Path = "/", interval_ms: int = INTERVAL_MS) -> TegrastatsSensor | None:
        if shutil.which("tegrastats") is None or not _is_jetson(Path(root)):
            return None
        return cls(interval_ms)

    def start(self) -> None:
        try:
            self._proc = subprocess.Popen(self.command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                          text=True, bufsize=1)
        except OSError:
            self._proc = None  # no readings: its metrics are simply absent
            return
        self._reader = threading.Thread(target=self._read, name="edgeprof-tegrastats", daemon=True)
        self._reader.start()

    def feed(self, line: str) -> None:
        """Take one line of tegrastats output; lines it cannot read leave the last reading in place."""
        values = parse_tegrastats(line)
        if values:
            with self._lock:
                self._latest = values

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            self.feed(line)
        with self._lock:
            self._latest = {}  # tegrastats ended: stale values would read as current ones

    def sample(self) -> dict[str, float]:
        with self._lock:
            return dict(self._latest)

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._reader is not None:
            self._reader.join(timeout=2)
        if self._proc is not None and self._proc.stdout is not None:
            self._proc.stdout.close()
        self._proc = self._reader = None
