"""The one callback type through which every stage reports progress lines (the CLI prints them)."""

from __future__ import annotations

from collections.abc import Callable

Say = Callable[[str], None]


def quiet(line: str) -> None:
    """A ``Say`` that drops every line (library use, child processes)."""
