"""Plain-text tables for terminals: columns padded to their widest cell."""

from __future__ import annotations

import re

# A line break or another control character in a cell (a model or device name) would split the row or
# drive the terminal; shown as a space.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def aligned(lines: list[list[str]] | list[tuple[str, ...]]) -> str:
    """The first line is the header; every line has the same number of cells."""
    lines = [[_CONTROL.sub(" ", cell) for cell in line] for line in lines]
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in lines)
