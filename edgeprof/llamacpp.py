"""What every stage needs from llama.cpp: one-time backend init and control of its log output.

llama.cpp writes its log (hundreds of lines per model load or quantization) to stderr. We route
it through one callback: ``--verbose`` passes it through; otherwise it goes to whoever listens
(the quantizer reads its per-tensor lines to drive a progress bar) and the last error lines are
kept so a failure can be explained.
"""

from __future__ import annotations

import contextlib
import ctypes
import sys
from collections import deque
from collections.abc import Callable, Iterator
from functools import lru_cache

_state = {"verbose": False, "listener": None, "ready": False}
recent_errors: deque[str] = deque(maxlen=20)
_callback = None  # keeps the C callback alive for the life of the process


# ggml's log levels (ggml.h): NONE 0, DEBUG 1, INFO 2, WARN 3, ERROR 4, CONT 5
_WARN, _ERROR = 3, 4


def preload() -> None:
    """Load libllama (and its GPU runtime) before numpy is imported.

    Measured on the H100 device with a CUDA build: when numpy (with its bundled OpenBLAS) is
    imported before libllama, ``llama_model_load_from_file`` segfaults; the other order works.
    ``edgeprof.bench.engine`` (where models are loaded) calls this at import, before numpy.
    """
    import llama_cpp  # noqa: F401


def init(verbose: bool | None = None) -> None:
    """Initialise the llama.cpp backend once and install our log callback.

    ``verbose`` (when given) decides whether llama.cpp's log reaches stderr.
    """
    global _callback
    import llama_cpp

    if verbose is not None:
        _state["verbose"] = verbose
    if _state["ready"]:
        return

    @llama_cpp.llama_log_callback
    def on_log(level: int, text: bytes, _user: ctypes.c_void_p) -> None:
        line = text.decode("utf-8", errors="replace")
        if level in (_WARN, _ERROR):
            recent_errors.extend(part.strip() for part in line.splitlines() if part.strip(" =-\t"))
        listener = _state["listener"]
        if listener is not None:
            listener(line)
        if _state["verbose"]:
            sys.stderr.write(line)

    _callback = on_log
    llama_cpp.llama_log_set(_callback, ctypes.c_void_p(0))
    llama_cpp.llama_backend_init()
    _state["ready"] = True


@contextlib.contextmanager
def listening(listener: Callable[[str], None]) -> Iterator[None]:
    """Send llama.cpp's log lines to ``listener`` for the duration of the block."""
    previous = _state["listener"]
    _state["listener"] = listener
    try:
        yield
    finally:
        _state["listener"] = previous


def version() -> str:
    import llama_cpp

    return getattr(llama_cpp, "__version__", "?")


@lru_cache(maxsize=1)
def ggml() -> ctypes.CDLL:
    """ggml's C functions, looked up through the libllama llama-cpp-python loaded (wherever it came
    from, LLAMA_CPP_LIB_PATH included): dlsym searches the libraries it depends on."""
    import llama_cpp.llama_cpp as bindings

    lib = ctypes.CDLL(bindings._lib._name)
    lib.ggml_quantize_chunk.restype = ctypes.c_size_t
    lib.ggml_quantize_chunk.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                                        ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p]
    lib.ggml_quantize_init.argtypes = [ctypes.c_int]
    lib.ggml_blck_size.restype = ctypes.c_int64
    lib.ggml_blck_size.argtypes = [ctypes.c_int]
    lib.ggml_type_size.restype = ctypes.c_size_t
    lib.ggml_type_size.argtypes = [ctypes.c_int]
    return lib


@lru_cache(maxsize=1)
def tensor_types() -> dict[int, tuple[int, int]]:
    """Type id -> (values per block, bytes per block) for every tensor type this build of ggml can
    load, asked of ggml itself (ids it has retired report a block size of 0)."""
    import llama_cpp

    lib = ggml()
    types = {}
    for type_id in range(llama_cpp.GGML_TYPE_COUNT):
        block = lib.ggml_blck_size(type_id)
        if block > 0:
            types[type_id] = (block, lib.ggml_type_size(type_id))
    return types
