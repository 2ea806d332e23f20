"""A Hugging Face checkpoint directory: config.json, safetensors weights (sharded or not), tokenizer."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeprof.errors import fail
from edgeprof.quantize.architectures import ARCHITECTURES, Architecture, supported_list
from edgeprof.quantize.safetensors_file import TensorEntry, read_header

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt")
INDEX_NAME = "model.safetensors.index.json"
PICKLE_INDEX_NAME = "pytorch_model.bin.index.json"


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise fail("not_found", path=path) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise fail("bad_json", path=path, detail=str(exc)) from None


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    config: dict[str, Any]
    architecture_name: str
    architecture: Architecture
    tensors: dict[str, TensorEntry]

    @property
    def weight_files(self) -> list[Path]:
        return sorted({entry.path for entry in self.tensors.values()})

    def hparam(self, key: str, default: Any = None) -> Any:
        if key in self.config:
            return self.config[key]
        if default is None:
            raise fail("config_key", path=self.path / "config.json", key=key, arch=self.architecture_name)
        return default


def open_checkpoint(path: Path, weights: bool = True, allow_pickle: bool = False) -> Checkpoint:
    """The checkpoint in ``path``; ``weights=False`` reads config.json only (synthetic models);
    ``allow_pickle`` reads PyTorch .bin weights through the restricted reader (torch_zip)."""
    config_path = path / "config.json"
    if not config_path.is_file():
        raise fail("not_a_checkpoint", path=path)
    config = read_json(config_path)
    if not isinstance(config, dict):
        raise fail("bad_json", path=config_path, detail="expected a JSON object")
    names = config.get("architectures") or []
    arch_name = names[0] if isinstance(names, list) and names else str(config.get("model_type", "?"))
    if arch_name not in ARCHITECTURES:
        raise fail("unsupported_arch", path=config_path, arch=arch_name, supported=supported_list())
    tensors = _load_tensors(path, allow_pickle) if weights else {}
    return Checkpoint(path, config, arch_name, ARCHITECTURES[arch_name], tensors)


def _load_tensors(path: Path, allow_pickle: bool) -> dict[str, TensorEntry]:
    index = path / INDEX_NAME
    files = _shards_from_index(index) if index.is_file() else sorted(path.glob("*.safetensors"))
    read = read_header
    if not files:
        files = _pickle_files(path)
        if files and not allow_pickle:
            raise fail("pickle_refused", path=files[0])
        from edgeprof.quantize.torch_zip import read_torch_zip as read
    if not files:
        raise fail("no_weights", path=path)
    tensors: dict[str, TensorEntry] = {}
    for file in files:
        tensors.update(read(file))
    return tensors


def _pickle_files(path: Path) -> list[Path]:
    index = path / PICKLE_INDEX_NAME
    if index.is_file():
        return _shards_from_index(index)
    return [p for p in sorted(path.iterdir()) if p.suffix in PICKLE_SUFFIXES]


def _shards_from_index(index: Path) -> list[Path]:
    data = read_json(index)
    weight_map = data.get("weight_map") if isinstance(data, dict) else None
    if not isinstance(weight_map, dict):
        raise fail("bad_json", path=index, detail="no weight_map object")
    shards = []
    for shard in sorted(set(weight_map.values())):
        shard_path = index.parent / str(shard)
        if Path(str(shard)).name != str(shard) or not shard_path.is_file():
            raise fail("shard_missing", path=index, shard=shard, folder=index.parent)
        shards.append(shard_path)
    return shards
