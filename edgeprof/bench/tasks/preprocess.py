"""Text clean-ups a task file may name in ``prompt.preprocess`` (checked when the file is loaded)."""

from __future__ import annotations

import re
from collections.abc import Callable

from edgeprof.bench.tasks.answers import unwrap_bytes_literal


def _hellaswag(text: str) -> str:
    """WikiHow contexts carry markup such as '[title]' and '[step]'; lm-eval strips it the same way."""
    text = text.strip().replace(" [title]", ". ")
    text = re.sub(r"\[.*?\]", "", text)
    return text.replace("  ", " ")


PREPROCESS: dict[str, Callable[[str], str]] = {"hellaswag": _hellaswag, "strip": str.strip,
                                              "bytes_literal": unwrap_bytes_literal}  # the hub's DeepMind maths
