"""Plain-text tables for terminals: columns padded to their widest cell."""

from __future__ import annotations


def aligned(lines: list[list[str]] | list[tuple[str, ...]]) -> str:
    """The first line is the header; every line has the same number of cells."""
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in lines)
