"""Quantize a GGUF to one level through llama.cpp's own ``llama_model_quantize`` (llama-quantize's code)."""

from __future__ import annotations

import ctypes
import re
from collections.abc import Callable
from pathlib import Path

from edgeprof import llamacpp
from edgeprof.errors import fail
from edgeprof.levels import ftype_of

# llama.cpp logs one line per tensor as it goes: "[  12/  30]   blk.1.attn_q.weight - ..."
_TENSOR_LINE = re.compile(r"\[\s*(\d+)/\s*(\d+)\]")


def llama_quantize(source: Path, dest: Path, level: str, threads: int, listen: Callable[[str], None],
                   dry_run: bool = False) -> int:
    """One call of llama.cpp's ``llama_model_quantize`` (llama-quantize's code) with its log lines sent
    to ``listen``; returns its status code. ``dry_run``: only report each tensor's type."""
    import llama_cpp

    llamacpp.init()
    params = llama_cpp.llama_model_quantize_default_params()
    params.nthread = threads
    params.ftype = ftype_of(level)
    params.dry_run = dry_run
    with llamacpp.listening(listen):
        return llama_cpp.llama_model_quantize(str(source).encode(), str(dest).encode(), ctypes.byref(params))


def quantize_file(source: Path, dest_tmp: Path, level: str, threads: int,
                  on_progress: Callable[[int, int], None] | None = None) -> None:
    """Write ``level`` of ``source`` to ``dest_tmp``; raise with llama.cpp's own error on failure."""
    def listen(line: str) -> None:
        if on_progress and (match := _TENSOR_LINE.search(line)):
            on_progress(int(match.group(1)), int(match.group(2)))

    llamacpp.recent_errors.clear()
    code = llama_quantize(source, dest_tmp, level, threads, listen)
    if code != 0:
        detail = llamacpp.recent_errors[-1] if llamacpp.recent_errors else f"return code {code}"
        raise fail("quantize_failed", path=source, level=level, detail=detail)
