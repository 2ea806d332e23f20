"""Helper for tests of files users write (tasks, suites): the one-line error a bad file raises."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from edgeprof.errors import EdgeprofError


def error_from(load: Callable[[str], object], path: Path, text: str) -> str:
    """Write ``text`` to ``path``, load it with ``load`` and return the message of the error it must raise."""
    path.write_text(text)
    with pytest.raises(EdgeprofError) as info:
        load(str(path))
    return str(info.value)
