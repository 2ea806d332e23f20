"""A ggml CPU threadpool attached to each context, as llama-bench does.

Without one, ggml builds a throwaway threadpool for every graph it computes; llama-bench
creates one per context with ``poll = 50`` (worker threads spin briefly before sleeping) and
attaches it, so to measure what llama-bench measures we do the same. llama-cpp-python does not
bind these three functions, so they are called through ctypes from the libraries it loaded.
"""

from __future__ import annotations

import ctypes
from functools import lru_cache
from pathlib import Path

GGML_MAX_N_THREADS = 512  # ggml.h


class ThreadpoolParams(ctypes.Structure):
    _fields_ = [("cpumask", ctypes.c_bool * GGML_MAX_N_THREADS), ("n_threads", ctypes.c_int),
                ("prio", ctypes.c_int), ("poll", ctypes.c_uint32), ("strict_cpu", ctypes.c_bool),
                ("paused", ctypes.c_bool)]


@lru_cache(maxsize=1)
def _functions():
    """(params_default, new, free, attach, detach) or None if the libraries do not export them."""
    import llama_cpp.llama_cpp as bindings

    lib_dir = Path(bindings._lib._name).parent  # where libllama (and its ggml libraries) came from
    try:
        base = ctypes.CDLL(str(next(lib_dir.glob("libggml-base.so*"))))
        cpu = ctypes.CDLL(str(next(lib_dir.glob("libggml-cpu.so*"))))
    except (StopIteration, OSError):
        return None
    llama = bindings._lib
    params_default = base.ggml_threadpool_params_default
    params_default.argtypes, params_default.restype = [ctypes.c_int], ThreadpoolParams
    new = cpu.ggml_threadpool_new
    new.argtypes, new.restype = [ctypes.POINTER(ThreadpoolParams)], ctypes.c_void_p
    free = cpu.ggml_threadpool_free
    free.argtypes, free.restype = [ctypes.c_void_p], None
    attach = llama.llama_attach_threadpool
    attach.argtypes, attach.restype = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p], None
    detach = llama.llama_detach_threadpool
    detach.argtypes, detach.restype = [ctypes.c_void_p], None
    return params_default, new, free, attach, detach


class Threadpool:
    """Create and attach on construction; ``close`` detaches and frees. A no-op where unavailable."""

    def __init__(self, ctx_ptr, n_threads: int, poll: int = 50):
        self.ctx_ptr = ctx_ptr
        self.pool = None
        fns = _functions()
        if fns is None:
            return
        params_default, new, _, attach, _ = fns
        params = params_default(n_threads)
        params.poll = poll
        self.pool = new(ctypes.byref(params))
        if self.pool:
            attach(ctx_ptr, self.pool, None)

    def close(self) -> None:
        if self.pool:
            _, _, free, _, detach = _functions()
            detach(self.ctx_ptr)
            free(self.pool)
            self.pool = None
