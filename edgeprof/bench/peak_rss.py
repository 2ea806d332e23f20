"""This process's peak resident memory, from the best counter the OS has, and which one that was.

Linux keeps the peak in ``VmHWM`` (/proc/self/status) and lets a process reset it (writing 5 to
/proc/self/clear_refs), so each cell gets its own peak. Elsewhere the peak covers the whole process
so far: Windows' peak working set (psutil's ``peak_wset``), or ``getrusage``'s ``ru_maxrss`` (macOS
and the BSDs; bytes on macOS, KiB elsewhere). Rows record the source beside the number, since a
peak since the process started can belong to an earlier, larger cell.
"""

from __future__ import annotations

import sys

STATUS = "/proc/self/status"
CLEAR_REFS = "/proc/self/clear_refs"

_reset_worked: bool | None = None  # the last reset's outcome; None before any


def reset_peak_rss() -> bool:
    """Start a new peak (Linux only); False where the counter cannot be reset."""
    global _reset_worked
    try:
        with open(CLEAR_REFS, "w") as f:
            f.write("5")
        _reset_worked = True
    except OSError:
        _reset_worked = False
    return _reset_worked


def _vmhwm_mb() -> float | None:
    try:
        with open(STATUS) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _psutil_peak_mb() -> float | None:
    try:
        import psutil

        peak = getattr(psutil.Process().memory_info(), "peak_wset", None)  # Windows only
    except Exception:  # noqa: BLE001 - no psutil, or no access: this source is simply absent
        return None
    return peak / 2**20 if peak else None


def _rusage_mb() -> float | None:
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if not peak:
        return None
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def peak_rss() -> tuple[float | None, str | None]:
    """(peak MiB, where it came from); (None, None) where no source exists."""
    mb = _vmhwm_mb()
    if mb is not None:
        since = "the cell started" if _reset_worked else "the process started (clear_refs not writable)"
        return mb, f"VmHWM, since {since}"
    mb = _psutil_peak_mb()
    if mb is not None:
        return mb, "psutil peak_wset, since the process started"
    mb = _rusage_mb()
    if mb is not None:
        return mb, "getrusage ru_maxrss, since the process started"
    return None, None


def peak_rss_mb() -> float | None:
    return peak_rss()[0]


def peak_rss_fields() -> dict:
    """What a row's ``memory`` records: ``peak_rss_mb`` and ``peak_rss_source``."""
    mb, source = peak_rss()
    return {"peak_rss_mb": mb, "peak_rss_source": source}
