"""How the device is set up, read once per bench and recorded in every row with the system info.

Edge boards change every number with settings that are not part of a sweep (DESIGN "Edge boards"):
the CPU governor and frequency limits, swap and zram, the storage a model is read from (an SD card
loads at a tenth of an NVMe's speed), a Jetson's power mode (``nvpmodel``), ``jetson_clocks``, L4T
and CUDA releases, a Pi's firmware and its throttling since boot. Each probe reads files under
``root`` (tests point it at a fake tree) or runs a tool through ``run``; a file or tool that does not
exist leaves its part absent (None), never an error. ``config_warnings`` names the settings that
make a board slower than it can be.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path

from edgeprof.bench.resources.raspberry_pi import is_raspberry_pi, parse_get_throttled
from edgeprof.sysfs import read_text

Runner = Callable[[list[str]], "str | None"]  # a command -> its stdout, None where it is absent or failed


def run_command(args: list[str]) -> str | None:
    """The tool's stdout, or None where it is not installed, fails (e.g. needs root) or hangs."""
    path = shutil.which(args[0])
    if path is None:
        return None
    try:
        done = subprocess.run([path, *args[1:]], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None




def _mhz(path: Path) -> float | None:
    """A cpufreq file (kHz) in MHz."""
    raw = read_text(path)
    try:
        return int(raw) / 1000.0 if raw is not None else None
    except ValueError:
        return None


def _index(path: Path, prefix: str) -> int:
    suffix = path.name.removeprefix(prefix)
    return int(suffix) if suffix.isdigit() else -1


def device_config(model_paths: Iterable[str | Path] = (), root: str | Path = "/", run: Runner = run_command) -> dict:
    """Everything below, with ``config_warnings``; ``model_storage`` has one entry per model file."""
    base = Path(root)
    storage = {str(p): storage_of(p, base) for p in model_paths}
    config = {"cpufreq": cpufreq(base), "swap": swap(base), "model_storage": storage or None,
              "jetson": jetson(base, run), "raspberry_pi": raspberry_pi(base, run)}
    config["config_warnings"] = config_warnings(config)
    return config


# --- CPU frequency ------------------------------------------------------------------------------------

def _cpu_list(text: str | None) -> str | None:
    """``0 1 2 3 6`` -> ``0-3,6``."""
    try:
        cpus = sorted(int(c) for c in (text or "").split())
    except ValueError:
        return text
    runs: list[list[int]] = []
    for cpu in cpus:
        if runs and cpu == runs[-1][-1] + 1:
            runs[-1].append(cpu)
        else:
            runs.append([cpu])
    return ",".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs) or None


def cpufreq(root: Path) -> list[dict] | None:
    """One entry per cpufreq policy (a cluster of cores that share a clock): governor, driver and the
    frequency limits set now beside the hardware's. None where the kernel has no cpufreq (many VMs)."""
    base = root / "sys/devices/system/cpu"
    folders = sorted((base / "cpufreq").glob("policy*"), key=lambda p: _index(p, "policy"))
    if not folders:  # kernels before policy folders: one cpufreq folder per CPU
        folders = [c / "cpufreq" for c in sorted(base.glob("cpu[0-9]*"), key=lambda p: _index(p, "cpu"))
                   if (c / "cpufreq").is_dir()]
    out = []
    for folder in folders:
        cpus = read_text(folder / "related_cpus") or read_text(folder / "affected_cpus")
        if cpus is None and folder.name == "cpufreq":
            cpus = folder.parent.name.removeprefix("cpu")
        entry: dict = {"cpus": _cpu_list(cpus)}
        for key, name in (("governor", "scaling_governor"), ("driver", "scaling_driver")):
            value = read_text(folder / name)
            if value:
                entry[key] = value
        for key, name in (("min_mhz", "scaling_min_freq"), ("max_mhz", "scaling_max_freq"),
                          ("hardware_min_mhz", "cpuinfo_min_freq"), ("hardware_max_mhz", "cpuinfo_max_freq")):
            value = _mhz(folder / name)
            if value is not None:
                entry[key] = value
        if len(entry) > 1:
            out.append(entry)
    return out or None


# --- swap and zram ------------------------------------------------------------------------------------

def swap(root: Path) -> dict | None:
    """Swap from /proc/swaps (sizes in KiB), zram devices counted apart: compressed RAM, not a disk."""
    text = read_text(root / "proc/swaps")
    if text is None:
        return None
    out = {"total_mb": 0.0, "used_mb": 0.0, "zram_total_mb": 0.0, "zram_used_mb": 0.0, "devices": 0}
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) < 4:
            continue
        try:
            size_mb, used_mb = int(parts[2]) / 1024, int(parts[3]) / 1024
        except ValueError:
            continue
        out["devices"] += 1
        out["total_mb"] += size_mb
        out["used_mb"] += used_mb
        if re.match(r"^/dev/zram\d+$", parts[0]):
            out["zram_total_mb"] += size_mb
            out["zram_used_mb"] += used_mb
    return {k: round(v, 1) if isinstance(v, float) else v for k, v in out.items()}


# --- the storage a model file sits on -----------------------------------------------------------------

def _unescape(field: str) -> str:
    """/proc/mounts writes a space in a path as \\040 (and tab, newline, backslash likewise)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def _mounts(root: Path) -> list[tuple[str, str, str]]:
    text = read_text(root / "proc/mounts") or ""
    mounts = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 3:
            mounts.append((_unescape(parts[0]), _unescape(parts[1]), parts[2]))
    return mounts


def _within(path: str, mount_point: str) -> bool:
    return mount_point == "/" or path == mount_point or path.startswith(mount_point.rstrip("/") + "/")


def _block_name(source: str, target: str, root: Path) -> str | None:
    """The kernel's name for the block device a mount comes from (``mmcblk0p2``, ``nvme0n1p1``)."""
    if str(root) == "/":
        real = os.path.realpath(source) if source.startswith("/dev/") else source
        if real.startswith("/dev/") and Path(real).exists():
            return real.removeprefix("/dev/")
        try:  # /dev/root and other names udev does not create: ask the file's device numbers
            st = os.stat(target)
        except OSError:
            return None
        link = Path(f"/sys/dev/block/{os.major(st.st_dev)}:{os.minor(st.st_dev)}")
        return link.resolve().name if link.exists() else None
    return source.removeprefix("/dev/") if source.startswith("/dev/") else None


def _kind(disk: str, sys_disk: Path) -> str | None:
    if disk.startswith("mmcblk"):
        mmc = read_text(sys_disk / "device/type")  # the MMC core's card type: SD, MMC (eMMC), SDIO
        return {"SD": "SD card", "MMC": "eMMC"}.get(mmc or "", "MMC/SD")
    if disk.startswith("nvme"):
        return "NVMe"
    if "/usb" in str(sys_disk.resolve()):
        return "USB"
    rotational = read_text(sys_disk / "queue/rotational")
    return {"1": "rotational disk", "0": "non-rotational disk"}.get(rotational or "")


def storage_of(path: str | Path, root: Path = Path("/")) -> dict | None:
    """The mount and the block device a file is read from: ``kind`` is SD card, eMMC, NVMe, USB,
    rotational or non-rotational disk; ``sd_card`` says whether it is the card a Pi boots from.
    None where /proc/mounts cannot be read (not Linux)."""
    mounts = _mounts(root)
    if not mounts:
        return None
    target = os.path.realpath(path) if str(root) == "/" else os.path.normpath(str(path))
    candidates = [m for m in mounts if _within(target, m[1])]
    if not candidates:
        return None
    # The deepest mount point holds the file; of mounts stacked on one point, the last is the one seen.
    source, mount_point, fstype = max(reversed(candidates), key=lambda m: len(m[1]))
    out: dict = {"mount_point": mount_point, "fstype": fstype, "source": source}
    name = _block_name(source, target, root)
    block = root / "sys/class/block" / name if name else None
    if block is None or not block.exists():
        return out
    disk = block.resolve().parent.name if (block / "partition").exists() else name
    sys_disk = root / "sys/block" / disk
    kind = _kind(disk, sys_disk)
    rotational = read_text(sys_disk / "queue/rotational")
    out.update({"device": name, "disk": disk, "kind": kind, "sd_card": kind == "SD card",
                "rotational": {"1": True, "0": False}.get(rotational or "")})
    model = read_text(sys_disk / "device/model") or read_text(sys_disk / "device/name")
    if model:
        out["disk_model"] = model
    return out


# --- Jetson -------------------------------------------------------------------------------------------

_L4T = re.compile(r"#\s*R(\d+)\s*\(release\),\s*REVISION:\s*(\d+(?:\.\d+)*)")
_POWER_MODEL = re.compile(r"<\s*POWER_MODEL\s+ID\s*=\s*(\d+)\s+NAME\s*=\s*([^\s>]+)")
# CPU and GPU lines; EMC's is left out: jetson_clocks fixes its clock by an override (FreqOverride=1)
# and leaves its MinFreq below MaxFreq.
_CLOCK_LINE = re.compile(r"^\s*(?:cpu\d+|GPU)\b:?(.*)$", re.MULTILINE)


def _is_jetson(root: Path) -> bool:
    if (root / "etc/nv_tegra_release").exists():
        return True
    model = read_text(root / "proc/device-tree/model") or ""
    return "Jetson" in model


def parse_l4t_release(text: str | None) -> str | None:
    """``# R36 (release), REVISION: 4.3, GCID: ...`` (the first line of /etc/nv_tegra_release) -> ``36.4.3``."""
    m = _L4T.search(text or "")
    return f"{m.group(1)}.{m.group(2)}" if m else None


def parse_nvpmodel_query(text: str | None) -> tuple[str | None, int | None]:
    """``nvpmodel -q``: ``NV Power Mode: MAXN_SUPER`` then the mode's id on a line of its own."""
    name = re.search(r"NV Power Mode:\s*(\S+)", text or "")
    ident = re.search(r"^\s*(\d+)\s*$", text or "", re.MULTILINE)
    return (name.group(1) if name else None), (int(ident.group(1)) if ident else None)


def parse_nvpmodel_conf(text: str | None) -> dict[int, str]:
    """The power modes an nvpmodel .conf defines: ``< POWER_MODEL ID=0 NAME=15W >`` -> {0: "15W"}."""
    return {int(i): name for i, name in _POWER_MODEL.findall(text or "")}


def _watts(name: str) -> int | None:
    """The budget a mode's name states: ``15W``, ``MODE_30W``, ``MODE_20W_6CORE`` -> 15, 30, 20."""
    m = re.search(r"(\d+)\s*W", name)
    return int(m.group(1)) if m else None


def fastest_mode(modes: dict[int, str]) -> tuple[int, str] | None:
    """The mode without caps: MAXN (MAXN_SUPER where a Super release adds it), else the most watts."""
    for prefer in ("MAXN_SUPER", "MAXN"):
        for ident, name in modes.items():
            if name.upper() == prefer:
                return ident, name
    watts = {ident: w for ident, name in modes.items() if (w := _watts(name)) is not None}
    if watts:
        best = max(watts, key=lambda i: watts[i])
        return best, modes[best]
    return None


def parse_jetson_clocks_show(text: str | None) -> bool | None:
    """``jetson_clocks --show``: on when every online CPU and the GPU run with MinFreq = MaxFreq
    (what jetson_clocks sets); None where the output has no clock lines (it needs root)."""
    pinned = []
    for rest in _CLOCK_LINE.findall(text or ""):
        if "Online=0" in rest:
            continue
        low, high = re.search(r"MinFreq=(\d+)", rest), re.search(r"MaxFreq=(\d+)", rest)
        if low and high:
            pinned.append(low.group(1) == high.group(1))
    return all(pinned) if pinned else None


def cuda_version(root: Path) -> str | None:
    """The CUDA toolkit JetPack installed: version.json (CUDA 11+) or version.txt (CUDA 10)."""
    text = read_text(root / "usr/local/cuda/version.json")
    if text:
        try:
            version = json.loads(text).get("cuda", {}).get("version")
        except (ValueError, AttributeError):
            version = None
        if version:
            return str(version)
    m = re.search(r"CUDA Version\s+(\S+)", read_text(root / "usr/local/cuda/version.txt") or "")
    return m.group(1) if m else None


def _clocks_pinned(root: Path) -> bool | None:
    """Without root, jetson_clocks --show says nothing; its effect on the CPUs shows in cpufreq."""
    policies = cpufreq(root) or []
    limits = [(p.get("min_mhz"), p.get("max_mhz")) for p in policies if p.get("max_mhz") is not None]
    return all(low == high for low, high in limits) if limits else None


def jetson(root: Path, run: Runner) -> dict | None:
    """L4T release, power mode (and the fastest the board has), jetson_clocks, CUDA. None off a Jetson."""
    if not _is_jetson(root):
        return None
    out: dict = {}
    l4t = parse_l4t_release(read_text(root / "etc/nv_tegra_release"))
    if l4t:
        out["l4t"] = l4t
    modes = parse_nvpmodel_conf(read_text(root / "etc/nvpmodel.conf"))
    name, ident = parse_nvpmodel_query(run(["nvpmodel", "-q"]))
    if name is None:  # nvpmodel keeps the mode it set in a status file: pmode:0002
        m = re.search(r"pmode:\s*(\d+)", read_text(root / "var/lib/nvpmodel/status") or "")
        ident = int(m.group(1)) if m else None
        name = modes.get(ident) if ident is not None else None
    if name is not None:
        out["power_mode"] = name
    if ident is not None:
        out["power_mode_id"] = ident
    fastest = fastest_mode(modes)
    if fastest:
        out["fastest_power_mode"], out["fastest_power_mode_id"] = fastest[1], fastest[0]
    shown = parse_jetson_clocks_show(run(["jetson_clocks", "--show"]))
    clocks, source = (shown, "jetson_clocks --show") if shown is not None else (_clocks_pinned(root), "cpufreq")
    if clocks is not None:
        out["jetson_clocks"] = "on" if clocks else "off"
        out["jetson_clocks_from"] = source
    cuda = cuda_version(root)
    if cuda:
        out["cuda"] = cuda
    return out


# --- Raspberry Pi -------------------------------------------------------------------------------------

def parse_vcgencmd_version(text: str | None) -> str | None:
    """``vcgencmd version``: the firmware's build date and version -> ``2024/09/23 14:02:56, version
    26826259 (release) (embedded)``."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    version = next((line for line in lines if line.startswith("version ")), None)
    if version is None:
        return None
    date = lines[0] if lines[0] != version and not lines[0].startswith("Copyright") else None
    return f"{date}, {version}" if date else version


def raspberry_pi(root: Path, run: Runner) -> dict | None:
    """The firmware and what ``get_throttled`` says happened since boot. None off a Pi."""
    if not is_raspberry_pi(root):
        return None
    out: dict = {}
    firmware = parse_vcgencmd_version(run(["vcgencmd", "version"]))
    if firmware:
        out["firmware"] = firmware
    flags = parse_get_throttled(run(["vcgencmd", "get_throttled"]) or "")
    if flags:
        conditions = ("undervoltage", "freq_capped", "throttled", "soft_temp_limit")
        out["get_throttled"] = hex(int(flags["throttled_flags"]))
        out["now"] = [name for name in conditions if flags[f"{name}_now"]]
        out["since_boot"] = [name for name in conditions if flags[f"{name}_occurred"]]
    return out


# --- warnings -----------------------------------------------------------------------------------------

# cpufreq drivers whose "powersave" governor still scales the clock with load (intel_pstate and
# amd-pstate-epp in active mode); elsewhere powersave holds every core at its lowest clock.
_SCALING_POWERSAVE = ("intel_pstate", "amd-pstate-epp")


def config_warnings(config: dict) -> list[str]:
    """The settings that slow a board below what it can do, one sentence each."""
    out = []
    for policy in config.get("cpufreq") or []:
        cpus = policy.get("cpus") or "?"
        if policy.get("governor") == "powersave" and policy.get("driver") not in _SCALING_POWERSAVE:
            out.append(f"CPUs {cpus} run the powersave governor, which holds them at their lowest clock; "
                       "set schedutil, ondemand or performance")
        high, hardware = policy.get("max_mhz"), policy.get("hardware_max_mhz")
        if high is not None and hardware is not None and high < hardware:
            out.append(f"CPUs {cpus} are capped at {high:g} MHz of their {hardware:g} MHz")
    board = config.get("jetson") or {}
    mode, fastest = board.get("power_mode"), board.get("fastest_power_mode")
    if mode and fastest and mode != fastest and _watts(mode) != _watts(fastest):  # Xavier: MODE_20W_2CORE/_6CORE
        out.append(f"Jetson power mode {mode} is not the board's fastest ({fastest}): "
                   f"sudo nvpmodel -m {board['fastest_power_mode_id']}")
    used = (config.get("swap") or {}).get("used_mb") or 0
    if used >= 1:
        zram = config["swap"].get("zram_used_mb") or 0
        where = f" ({zram:g} MiB of it compressed in RAM by zram)" if zram else ""
        out.append(f"{used:g} MiB of swap in use{where}: memory was short before the bench, and a model "
                   "that pages runs far slower")
    pi = config.get("raspberry_pi") or {}
    seen = set(pi.get("since_boot") or []) | set(pi.get("now") or [])
    if "undervoltage" in seen:
        out.append(f"the Pi saw under-voltage since boot (get_throttled {pi['get_throttled']}): the supply "
                   "sags under load and the firmware slows the CPU; use a supply rated for the board")
    if seen & {"throttled", "freq_capped", "soft_temp_limit"}:
        out.append(f"the Pi's firmware has throttled or capped the CPU since boot (get_throttled "
                   f"{pi['get_throttled']}): numbers may vary with temperature; cool the board or use --cooldown")
    return out
