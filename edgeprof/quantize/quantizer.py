"""Quantize a GGUF to one level through llama.cpp's own ``llama_model_quantize`` (llama-quantize's code)."""

from __future__ import annotations

import ctypes
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from edgeprof import llamacpp
from edgeprof.errors import fail
from edgeprof.levels import ftype_of

if TYPE_CHECKING:
    from edgeprof.quantize.imatrix_file import Imatrix

# metadata keys llama-quantize writes into a file quantized with an importance matrix
IMATRIX_FILE, IMATRIX_DATASET = "quantize.imatrix.file", "quantize.imatrix.dataset"
IMATRIX_N_ENTRIES, IMATRIX_N_CHUNKS = "quantize.imatrix.entries_count", "quantize.imatrix.chunks_count"

# llama.cpp logs one line per tensor as it goes: "[  12/  30]   blk.1.attn_q.weight - ..."
_TENSOR_LINE = re.compile(r"\[\s*(\d+)/\s*(\d+)\]")


def llama_quantize(source: Path, dest: Path, level: str, threads: int, listen: Callable[[str], None],
                   dry_run: bool = False, imatrix: Imatrix | None = None) -> int:
    """One call of llama.cpp's ``llama_model_quantize`` (llama-quantize's code) with its log lines sent
    to ``listen``; returns its status code. ``dry_run``: only report each tensor's type. ``imatrix``:
    passed as llama-quantize passes it, with the same ``quantize.imatrix.*`` keys written to the file."""
    import llama_cpp

    llamacpp.init()
    params = llama_cpp.llama_model_quantize_default_params()
    params.nthread = threads
    params.ftype = ftype_of(level)
    params.dry_run = dry_run
    keep = _attach_imatrix(params, imatrix) if imatrix else None
    with llamacpp.listening(listen):
        code = llama_cpp.llama_model_quantize(str(source).encode(), str(dest).encode(), ctypes.byref(params))
    del keep  # the arrays llama.cpp read from live until here
    return code


def _attach_imatrix(params, imatrix: Imatrix) -> list:
    """Point ``params`` at ``imatrix`` (entries, then metadata overrides); returns what must stay alive."""
    import llama_cpp

    names = sorted(imatrix.values)
    entries = (llama_cpp.llama_model_imatrix_data * (len(names) + 1))()  # zeroed last entry ends the list
    arrays = [imatrix.values[n] for n in names]
    for entry, name, values in zip(entries, names, arrays, strict=False):
        entry.name = name.encode()
        entry.data = values.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
        entry.size = values.size
    overrides = _imatrix_metadata(imatrix, len(names))
    params.imatrix = entries
    params.kv_overrides = overrides
    return [entries, arrays, overrides]


def _imatrix_metadata(imatrix: Imatrix, n_entries: int):
    """The keys llama-quantize records: the matrix file (its name: it lies beside the outputs), the
    dataset, the entry count and the chunk count; a zeroed entry ends the list."""
    import llama_cpp

    items: list[tuple[str, str | int]] = [(IMATRIX_FILE, imatrix.path.name)]
    if imatrix.datasets:
        items.append((IMATRIX_DATASET, imatrix.datasets[0]))
    items.append((IMATRIX_N_ENTRIES, n_entries))
    if imatrix.chunk_count > 0:
        items.append((IMATRIX_N_CHUNKS, imatrix.chunk_count))
    overrides = (llama_cpp.llama_model_kv_override * (len(items) + 1))()
    for kvo, (key, value) in zip(overrides, items, strict=False):
        kvo.key = key.encode()
        if isinstance(value, str):
            kvo.tag = llama_cpp.LLAMA_KV_OVERRIDE_TYPE_STR
            kvo.value.val_str = value.encode()[:127]
        else:
            kvo.tag = llama_cpp.LLAMA_KV_OVERRIDE_TYPE_INT
            kvo.value.val_i64 = value
    return overrides


def quantize_file(source: Path, dest_tmp: Path, level: str, threads: int,
                  on_progress: Callable[[int, int], None] | None = None, imatrix: Imatrix | None = None) -> None:
    """Write ``level`` of ``source`` to ``dest_tmp``; raise with llama.cpp's own error on failure."""
    def listen(line: str) -> None:
        if on_progress and (match := _TENSOR_LINE.search(line)):
            on_progress(int(match.group(1)), int(match.group(2)))

    llamacpp.recent_errors.clear()
    code = llama_quantize(source, dest_tmp, level, threads, listen, imatrix=imatrix)
    if code != 0:
        detail = llamacpp.recent_errors[-1] if llamacpp.recent_errors else f"return code {code}"
        raise fail("quantize_failed", path=source, level=level, detail=detail)
