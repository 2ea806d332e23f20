"""What a GGUF file must pass before llama.cpp is handed it.

Every load goes through ``check_loadable``: the bounded header reader (``gguf_header``), then the
tensor table checked against the file's size and this ggml build's own type table. Measured with
llama-cpp-python 0.3.36: its loader also refuses each malformed file in tests/test_bad_gguf.py
without crashing, but says only "failed to read tensor info" or "failed to load model" on stderr
(which edgeprof hides). Checking first gives one line naming the file and the tensor, refuses the
file before a sweep writes anything, and does not rest on every llama.cpp build a user links
(LLAMA_CPP_LIB_PATH) being as careful: a test hands llama.cpp every randomly damaged file that
passes these checks and requires the process to survive.
"""

from __future__ import annotations

from pathlib import Path

from edgeprof.errors import fail
from edgeprof.gguf_header import GGUFHeader, TensorInfo, read_gguf_header

MAX_ELEMENTS = 1 << 40  # no tensor of a model that fits on any machine has more values


def check_loadable(path: Path) -> GGUFHeader:
    """The header of ``path`` once it is safe to give to llama.cpp; raises our one-line error otherwise."""
    from edgeprof import llamacpp

    header = read_gguf_header(path)
    if not header.tensors:
        raise fail("gguf_not_model", path=path, detail="it has no tensors (a vocabulary-only file?)")
    if "general.architecture" not in header.metadata:
        raise fail("gguf_not_model", path=path, detail="its metadata names no general.architecture")
    alignment = header.metadata.get("general.alignment", 32)
    if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
        raise fail("gguf_unreadable", path=path, detail=f"general.alignment {alignment!r} is not a power of two")
    types = llamacpp.tensor_types()
    extents = sorted((_extent(header, t, types, alignment), t.name) for t in header.tensors)
    names: set[str] = set()
    for ((_, previous_end), previous), ((start, _), name) in zip(extents, extents[1:]):
        if start < previous_end:
            raise fail("gguf_unreadable", path=path, detail=f"tensors {previous!r} and {name!r} overlap")
    for _, name in extents:
        if name in names:
            raise fail("gguf_unreadable", path=path, detail=f"tensor {name!r} appears twice")
        names.add(name)
    return header


def _extent(header: GGUFHeader, t: TensorInfo, types: dict[int, tuple[int, int]], alignment: int) -> tuple[int, int]:
    """Where the tensor's data lies in the file, once its type, shape and offset make sense."""
    path = header.path
    if t.type_id not in types:
        from edgeprof import llamacpp

        raise fail("gguf_unknown_type", path=path, tensor=t.name, type_id=t.type_id, version=llamacpp.version())
    block, block_bytes = types[t.type_id]
    if not t.shape or any(d <= 0 for d in t.shape) or t.n_elements > MAX_ELEMENTS:
        raise fail("gguf_unreadable", path=path, detail=f"tensor {t.name!r} has an impossible shape {list(t.shape)}")
    if t.shape[0] % block:
        raise fail("gguf_unreadable", path=path,
                   detail=f"tensor {t.name!r}: row length {t.shape[0]} is not a multiple of its type's block ({block})")
    if t.offset % alignment:
        raise fail("gguf_unreadable", path=path, detail=f"tensor {t.name!r} is not aligned to {alignment} bytes")
    start = header.data_offset + t.offset
    end = start + t.n_elements // block * block_bytes
    if end > header.file_size:
        raise fail("gguf_unreadable", path=path,
                   detail=f"tensor {t.name!r} ends at byte {end} but the file has {header.file_size} "
                   "(truncated tensor data)")
    return start, end
