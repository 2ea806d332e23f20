"""The activation collector of llama-imatrix, as a llama.cpp eval callback.

llama.cpp's scheduler asks the callback about every graph node (``ask``) and, for the nodes it
wants, calls it again once the node is computed. Like llama-imatrix's ``IMatrixCollector`` we take
every matrix multiplication by a ``blk.*`` weight whose activations are F32 with at least 16 rows,
and add each row's squared values to that weight's sums (in row order, one float32 add per row, as
its C loop does), counting the rows. The forward pass is llama.cpp's own; only this bookkeeping is
Python. Mixture-of-experts multiplications (MUL_MAT_ID) are refused: no supported architecture has them.
"""

from __future__ import annotations

import ctypes
from functools import cache, lru_cache

import numpy as np

from edgeprof.errors import fail

_MAX_DIMS, _MAX_SRC, _MAX_NAME, _MAX_OP_PARAMS = 4, 10, 64, 64
_GGML_TYPE_F32 = 0
_MIN_ROWS = 16  # llama-imatrix ignores smaller batches


class _Tensor(ctypes.Structure):
    """``struct ggml_tensor`` (ggml.h)."""

    _fields_ = [("type", ctypes.c_int), ("buffer", ctypes.c_void_p), ("ne", ctypes.c_int64 * _MAX_DIMS),
                ("nb", ctypes.c_size_t * _MAX_DIMS), ("op", ctypes.c_int),
                ("op_params", ctypes.c_int32 * (_MAX_OP_PARAMS // 4)), ("flags", ctypes.c_int32),
                ("src", ctypes.c_void_p * _MAX_SRC), ("view_src", ctypes.c_void_p), ("view_offs", ctypes.c_size_t),
                ("data", ctypes.c_void_p), ("name", ctypes.c_char * _MAX_NAME), ("extra", ctypes.c_void_p),
                ("padding", ctypes.c_char * 8)]


@lru_cache(maxsize=1)
def _ggml():
    """libggml-base as installed with llama-cpp-python (the library the forward pass runs in)."""
    from pathlib import Path

    import llama_cpp
    from llama_cpp._ctypes_extensions import load_shared_library

    lib = load_shared_library("ggml-base", Path(llama_cpp.__file__).parent / "lib")
    lib.ggml_op_name.argtypes, lib.ggml_op_name.restype = [ctypes.c_int], ctypes.c_char_p
    lib.ggml_nbytes.argtypes, lib.ggml_nbytes.restype = [ctypes.c_void_p], ctypes.c_size_t
    lib.ggml_backend_buffer_is_host.argtypes, lib.ggml_backend_buffer_is_host.restype = [ctypes.c_void_p], ctypes.c_bool
    lib.ggml_backend_tensor_get.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t]
    lib.ggml_backend_tensor_get.restype = None
    return lib


@cache
def _op_name(op: int) -> str:
    return _ggml().ggml_op_name(op).decode()


def weight_name(raw: bytes) -> str:
    """``CUDA0#blk.0.attn_k.weight#0`` -> ``blk.0.attn_k.weight`` (llama-imatrix's filter_tensor_name)."""
    name = raw.decode(errors="replace")
    if "#" in name:
        name = name.split("#", 2)[1]
    return name


class Collector:
    """Sums and counts per weight, filled by ``callback`` while llama.cpp decodes."""

    def __init__(self) -> None:
        self.sums: dict[str, np.ndarray] = {}
        self.counts: dict[str, np.ndarray] = {}
        self.error: BaseException | None = None
        self.c_callback = None

    def make_callback(self):
        import llama_cpp

        self.c_callback = llama_cpp.ggml_backend_sched_eval_callback(self._on_node)
        return self.c_callback

    def _on_node(self, address: int, ask: bool, _user) -> bool:
        try:
            node = _Tensor.from_address(address)
            return self._wanted(node) if ask else self._collect(node)
        except BaseException as exc:  # noqa: BLE001  an exception cannot cross llama.cpp's C frames: keep it for later
            self.error = self.error or exc
            return ask is False

    def _wanted(self, node: _Tensor) -> bool:
        op = _op_name(node.op)
        if op == "MUL_MAT_ID":
            return True
        if op != "MUL_MAT":
            return False
        src1 = _Tensor.from_address(node.src[1])
        if src1.ne[1] < _MIN_ROWS or src1.type != _GGML_TYPE_F32:
            return False
        return weight_name(_Tensor.from_address(node.src[0]).name).startswith("blk.")

    def _collect(self, node: _Tensor) -> bool:
        src0, src1 = _Tensor.from_address(node.src[0]), _Tensor.from_address(node.src[1])
        name = weight_name(src0.name)
        if _op_name(node.op) == "MUL_MAT_ID":
            raise fail("imatrix_moe", name=name)
        x = _activations(node.src[1], src1)  # (ne3, ne2, ne1, ne0)
        n_mat = src0.ne[2] * src0.ne[3]
        ne0 = src1.ne[0]
        sums = self.sums.setdefault(name, np.zeros((n_mat, ne0), dtype=np.float32))
        if sums.shape != (n_mat, ne0):
            raise fail("imatrix_inconsistent", name=name, detail=f"{sums.shape} vs {(n_mat, ne0)}")
        for i3 in range(src1.ne[3]):
            for i2 in range(src1.ne[2]):
                mat = (i3 % src0.ne[3]) * src0.ne[2] + (i2 % src0.ne[2])
                sums[mat] = _sequential_sum(sums[mat], x[i3, i2])
        if not np.isfinite(sums).all():
            raise fail("imatrix_nonfinite", name=name)
        counts = self.counts.setdefault(name, np.zeros(1, dtype=np.int64))
        counts += (src1.ne[1] * src1.ne[2] * src1.ne[3]) // n_mat
        return True


def _activations(address: int, t: _Tensor) -> np.ndarray:
    """The F32 tensor at ``address`` as a (ne3, ne2, ne1, ne0) array (copied from device memory if needed)."""
    lib = _ggml()
    nbytes = lib.ggml_nbytes(address)
    if lib.ggml_backend_buffer_is_host(t.buffer):
        raw = (ctypes.c_char * nbytes).from_address(t.data)
    else:
        raw = ctypes.create_string_buffer(nbytes)
        lib.ggml_backend_tensor_get(address, raw, 0, nbytes)
    shape = tuple(t.ne[i] for i in reversed(range(_MAX_DIMS)))
    strides = tuple(t.nb[i] for i in reversed(range(_MAX_DIMS)))
    return np.array(np.ndarray(shape, dtype=np.float32, buffer=raw, strides=strides))


def _sequential_sum(acc: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``acc`` plus each row's squares, added one row after another in float32 (llama-imatrix's loop
    ``acc[j] += x[j]*x[j]``): ``np.add.accumulate`` runs strictly in order, unlike ``sum``."""
    squares = rows * rows
    return np.add.accumulate(np.concatenate([acc[None, :], squares]), axis=0)[-1]
