"""PyTorch checkpoints (``pytorch_model.bin``, torch.save's zip format) read without running them.

A pickle is a program: loading one with ``pickle``/``torch.load`` can call any Python function.
This reader runs the pickle through an unpickler that knows only what a state dict is made of
(``OrderedDict``, tensors rebuilt by ``torch._utils._rebuild_tensor_v2``, the storage types) and
refuses every other global by name. It never builds a tensor either: each one becomes a
``TensorEntry`` pointing at its bytes inside the zip (torch stores them uncompressed), so the rest
of conversion memory-maps them exactly as it does safetensors. Only with ``--allow-pickle``.
"""

from __future__ import annotations

import math
import pickle
import struct
import zipfile
from collections import OrderedDict
from pathlib import Path

from edgeprof.errors import fail
from edgeprof.quantize.safetensors_file import DTYPES, TensorEntry

# torch storage class -> safetensors dtype label (the names DTYPES knows)
STORAGE_DTYPES = {"FloatStorage": "F32", "HalfStorage": "F16", "BFloat16Storage": "BF16", "DoubleStorage": "F64",
                  "LongStorage": "I64", "IntStorage": "I32", "ShortStorage": "I16", "CharStorage": "I8",
                  "ByteStorage": "U8", "BoolStorage": "BOOL"}


class _Storage:
    """A storage the pickle refers to: where its bytes are in the zip file, and their dtype."""

    def __init__(self, dtype: str, offset: int, nbytes: int):
        self.dtype, self.offset, self.nbytes = dtype, offset, nbytes


class _Tensor:
    def __init__(self, storage: _Storage, storage_offset: int, size: tuple, stride: tuple):
        self.storage, self.storage_offset, self.size, self.stride = storage, storage_offset, size, stride


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, hooks=None, metadata=None):
    return _Tensor(storage, int(storage_offset), tuple(size), tuple(stride))


def _rebuild_parameter(data, requires_grad=False, hooks=None):
    return data


class _StorageType:
    def __init__(self, name: str):
        self.dtype = STORAGE_DTYPES[name]


ALLOWED = {("collections", "OrderedDict"): OrderedDict,
           ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
           ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
           **{("torch", name): _StorageType(name) for name in STORAGE_DTYPES}}


class _StateDictUnpickler(pickle.Unpickler):
    def __init__(self, data: bytes, path: Path, storages):
        import io

        super().__init__(io.BytesIO(data))
        self.path, self.storages = path, storages

    def find_class(self, module: str, name: str):
        try:
            return ALLOWED[(module, name)]
        except KeyError:
            raise fail("pickle_global", path=self.path, name=f"{module}.{name}") from None

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 3 and pid[0] == "storage" and isinstance(pid[1], _StorageType)):
            raise fail("pickle_bad", path=self.path, detail=f"unexpected persistent id {str(pid)[:80]}")
        return self.storages(str(pid[2]), pid[1].dtype)


def read_torch_zip(path: Path) -> dict[str, TensorEntry]:
    """The tensors of one torch.save zip file, as byte ranges of that file."""
    try:
        with zipfile.ZipFile(path) as archive, open(path, "rb") as raw:
            pickles = [n for n in archive.namelist() if n.endswith("/data.pkl")]
            if len(pickles) != 1:
                raise fail("pickle_bad", path=path, detail="not a torch.save zip archive (no data.pkl)")
            prefix = pickles[0].removesuffix("data.pkl")

            def storage(key: str, dtype: str) -> _Storage:
                info = archive.getinfo(f"{prefix}data/{key}")
                if info.compress_type != zipfile.ZIP_STORED:
                    raise fail("pickle_bad", path=path, detail=f"storage {key} is compressed")
                return _Storage(dtype, _data_offset(raw, info), info.file_size)

            if archive.getinfo(pickles[0]).flag_bits & 0x1:  # zipfile would ask for a password
                raise fail("pickle_bad", path=path, detail="data.pkl is encrypted")
            state = _StateDictUnpickler(archive.read(pickles[0]), path, storage).load()
    except (zipfile.BadZipFile, KeyError, EOFError, pickle.UnpicklingError, struct.error, ValueError,
            NotImplementedError) as exc:  # NotImplementedError: a compression method zipfile lacks
        raise fail("pickle_bad", path=path, detail=f"{type(exc).__name__}: {exc}") from None
    if not isinstance(state, dict):
        raise fail("pickle_bad", path=path, detail="the pickle is not a state dict")
    return {str(name): _entry(path, str(name), t) for name, t in state.items() if isinstance(t, _Tensor)}


def _data_offset(raw, info: zipfile.ZipInfo) -> int:
    """Where an uncompressed member's bytes start: after its local header (30 bytes + name + extra)."""
    raw.seek(info.header_offset)
    header = raw.read(30)
    if header[:4] != b"PK\x03\x04":
        raise ValueError(f"bad local header for {info.filename}")
    name_len, extra_len = struct.unpack("<HH", header[26:30])
    return info.header_offset + 30 + name_len + extra_len


def _entry(path: Path, name: str, t: _Tensor) -> TensorEntry:
    itemsize = DTYPES[t.storage.dtype][1]
    contiguous = tuple(math.prod(t.size[i + 1:]) for i in range(len(t.size)))
    if t.stride != contiguous and math.prod(t.size) > 1:
        raise fail("pickle_bad", path=path, detail=f"tensor {name!r} is not contiguous (stride {t.stride})")
    nbytes = math.prod(t.size) * itemsize
    start = t.storage_offset * itemsize
    if start < 0 or start + nbytes > t.storage.nbytes:
        raise fail("pickle_bad", path=path, detail=f"tensor {name!r} runs past the end of its storage")
    return TensorEntry(name, t.storage.dtype, t.size, path, t.storage.offset + start, nbytes)
