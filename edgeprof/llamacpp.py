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
    _callback = llama_cpp.llama_log_callback(_on_log)
    llama_cpp.llama_log_set(_callback, ctypes.c_void_p(0))
    llama_cpp.llama_backend_init()
    _state["ready"] = True


def _on_log(level: int, text: bytes, _user: ctypes.c_void_p) -> None:
    line = text.decode("utf-8", errors="replace")
    if level in (_WARN, _ERROR):
        recent_errors.extend(part.strip() for part in line.splitlines() if part.strip(" =-\t"))
    listener = _state["listener"]
    if listener is not None:
        listener(line)
    if _state["verbose"]:
        sys.stderr.write(line)


# Signals (Ctrl-C, SIGTERM) that came while llama.cpp ran our callback from inside one of its C calls (a
# quantization, a model load). An exception raised there cannot reach the caller: ctypes prints it and
# drops it, and the C call goes on as if nothing happened. So the CLI's signal handler asks ``held``
# first; a held signal is delivered again when the C call returns: at once where the call ends in
# ``listening`` (the quantizer: before its file is renamed), else within 20 ms (a watcher thread).
_held: set[int] = set()
_redelivered: set[int] = set()  # tripped again by the watcher and not yet seen by the handler
_WATCHER = "edgeprof-held-signal"


def held(signum: int, frame) -> bool:
    """For a signal handler: True to return without raising (the signal is held, or was a stale
    repeat of one already raised), False to raise now."""
    redelivery = signum in _redelivered
    _redelivered.discard(signum)
    if in_log_callback(frame):
        _held.add(signum)
        _watch()
        return True
    if redelivery and not _held:
        return True
    _held.clear()
    return False


def in_log_callback(frame) -> bool:
    """Whether Python code at ``frame`` runs inside our log callback, that is inside a C call of llama.cpp."""
    while frame is not None:
        if frame.f_code is _on_log.__code__:
            return True
        frame = frame.f_back
    return False


def release_held() -> None:
    """Right after a C call whose callback may have held a signal: deliver it now."""
    if _held:
        import signal

        signal.raise_signal(next(iter(_held)))


def _watch() -> None:
    """Trip the held signals again every 20 ms (no real signal: no system call of the C code is
    interrupted) until the handler runs outside the callback. Tripping from the handler itself would
    run the handler again at once, inside the callback, without end."""
    import threading

    if any(t.name == _WATCHER for t in threading.enumerate()):
        return

    def redeliver() -> None:
        import _thread
        import time

        while _held:
            time.sleep(0.02)
            for signum in list(_held):
                _redelivered.add(signum)
                _thread.interrupt_main(signum)

    threading.Thread(target=redeliver, name=_WATCHER, daemon=True).start()


@contextlib.contextmanager
def listening(listener: Callable[[str], None]) -> Iterator[None]:
    """Send llama.cpp's log lines to ``listener`` for the duration of the block."""
    previous = _state["listener"]
    _state["listener"] = listener
    try:
        yield
    finally:
        _state["listener"] = previous
        release_held()


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


# Inside a timed loop our Python log callback costs time llama-bench does not spend: llama.cpp hands
# every line to the callback, DEBUG ones included, and with CUDA each llama_decode logs one ("CUDA Graph
# id N reused"): a GIL acquisition and a Python call per token, longer when a sampler thread holds the
# GIL. llama-bench installs a C callback that does nothing. We cannot compile one, so we borrow a C
# function that ignores what it is given: libc's abs() reads the first integer register and returns.
# On the C ABIs edgeprof runs on (x86-64 System V, AArch64), arguments travel in registers and the
# caller cleans up, so a function taking fewer arguments than it is passed is safe to call.
@lru_cache(maxsize=1)
def _ignore_native():
    import llama_cpp

    try:
        address = ctypes.cast(ctypes.CDLL(None).abs, ctypes.c_void_p).value
    except (OSError, AttributeError, TypeError):  # no C library to borrow from (Windows)
        return None
    return llama_cpp.llama_log_callback(address)


@contextlib.contextmanager
def log_off() -> Iterator[None]:
    """llama.cpp's log goes nowhere, natively, for the duration of the block (timed loops). Unless
    ``--verbose`` asked to see it; its error lines are then not kept (a failed decode says its code)."""
    native = _ignore_native() if _state["ready"] and not _state["verbose"] else None
    if native is None:
        yield
        return
    import llama_cpp

    llama_cpp.llama_log_set(native, ctypes.c_void_p(0))
    try:
        yield
    finally:
        llama_cpp.llama_log_set(_callback, ctypes.c_void_p(0))
