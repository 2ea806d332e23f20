"""Reading small kernel files (/sys, /proc, the device tree): a value, or None where the file is
absent, root-only or refused by its driver. Device tree strings end in NUL, sysfs values in a newline."""

from __future__ import annotations

from pathlib import Path


def read_text(path: str | Path) -> str | None:
    try:
        return Path(path).read_text(errors="replace").strip("\x00\n ")
    except OSError:
        return None


def read_int(path: str | Path) -> int | None:
    raw = read_text(path)
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None
