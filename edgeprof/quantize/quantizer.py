"""Quantize a GGUF to one level through llama.cpp's own ``llama_model_quantize`` (llama-quantize's code)."""

from __future__ import annotations

import ctypes
import re
from pathlib import Path
from typing import Callable

from edgeprof import llamacpp
from edgeprof.errors import fail
from edgeprof.quantize.levels import ftype_of

# llama.cpp logs one line per tensor as it goes: "[  12/  30]   blk.1.attn_q.weight - ..."
_TENSOR_LINE = re.compile(r"\[\s*(\d+)/\s*(\d+)\]")


def quantize_file(source: Path, dest_tmp: Path, level: str, threads: int,
                  on_progress: Callable[[int, int], None] | None = None) -> None:
    """Write ``level`` of ``source`` to ``dest_tmp``; raise with llama.cpp's own error on failure."""
    import llama_cpp

    llamacpp.init()
    params = llama_cpp.llama_model_quantize_default_params()
    params.nthread = threads
    params.ftype = ftype_of(level)

    def listen(line: str) -> None:
        if on_progress and (match := _TENSOR_LINE.search(line)):
            on_progress(int(match.group(1)), int(match.group(2)))

    llamacpp.recent_errors.clear()
    with llamacpp.listening(listen):
        code = llama_cpp.llama_model_quantize(str(source).encode(), str(dest_tmp).encode(),
                                              ctypes.byref(params))
    if code != 0:
        detail = llamacpp.recent_errors[-1] if llamacpp.recent_errors else f"return code {code}"
        raise fail("quantize_failed", path=source, level=level, detail=detail)
