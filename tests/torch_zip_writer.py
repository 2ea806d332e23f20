"""Write PyTorch checkpoints in torch.save's zip format without torch: the pickle is produced by
Python's own pickler against stand-in ``torch`` modules (so its globals name the real
``torch._utils._rebuild_tensor_v2`` and ``torch.FloatStorage``), storages as uncompressed members."""

from __future__ import annotations

import contextlib
import io
import pickle
import sys
import types
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np

STORAGE_OF = {np.dtype(np.float32): "FloatStorage", np.dtype(np.float16): "HalfStorage"}


@contextlib.contextmanager
def _stand_in_torch():
    torch, utils = types.ModuleType("torch"), types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):  # only its name is pickled
        raise AssertionError

    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    for name in STORAGE_OF.values():
        setattr(torch, name, type(name, (), {"__module__": "torch"}))
    torch._utils = utils
    saved = {k: sys.modules.get(k) for k in ("torch", "torch._utils")}
    sys.modules.update({"torch": torch, "torch._utils": utils})
    try:
        yield torch
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


class _Storage:
    def __init__(self, key: str, array: np.ndarray):
        self.key, self.array = key, array


class _Tensor:
    def __init__(self, storage: _Storage):
        self.storage = storage

    def __reduce__(self):
        a = self.storage.array
        stride = tuple(s // a.itemsize for s in a.strides)
        return (sys.modules["torch._utils"]._rebuild_tensor_v2,
                (self.storage, 0, a.shape, stride, False, OrderedDict()))


def write_torch_zip(path: Path, tensors: dict[str, np.ndarray], extra: object = None) -> None:
    """``tensors`` as torch.save stores a state dict; ``extra`` is pickled beside them (to plant a
    hostile object in an otherwise valid file)."""
    storages = [_Storage(str(i), np.ascontiguousarray(a)) for i, a in enumerate(tensors.values())]
    state = OrderedDict((name, _Tensor(s)) for name, s in zip(tensors, storages))
    if extra is not None:
        state["extra"] = extra
    with _stand_in_torch() as torch:
        buffer = io.BytesIO()
        pickler = pickle.Pickler(buffer, protocol=2)
        pickler.persistent_id = lambda obj: (("storage", getattr(torch, STORAGE_OF[obj.array.dtype]), obj.key, "cpu",
                                              obj.array.size) if isinstance(obj, _Storage) else None)
        pickler.dump(state)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("archive/data.pkl", buffer.getvalue())
        for s in storages:
            archive.writestr(f"archive/data/{s.key}", s.array.tobytes())
        archive.writestr("archive/version", "3\n")
