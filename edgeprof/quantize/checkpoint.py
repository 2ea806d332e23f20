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
    arch = ARCHITECTURES[arch_name]
    config = {**_rope_parameters(config), **config}
    config = {**dict(arch.config_defaults), **{k: v for k, v in config.items() if v is not None or
                                               k not in dict(arch.config_defaults)}}
    check_config(config_path, config, arch_name, arch)
    tensors = _load_tensors(path, allow_pickle) if weights else {}
    return Checkpoint(path, config, arch_name, arch, tensors)


def _rope_parameters(config: dict[str, Any]) -> dict[str, Any]:
    """transformers 5 writes rope settings as ``rope_parameters`` (per layer type for Gemma 3):
    the older keys they stand for (``rope_theta``, ``rope_scaling``, ``rope_local_base_freq``)."""
    params = config.get("rope_parameters")
    if not isinstance(params, dict):
        return {}
    full = params.get("full_attention", params)
    old: dict[str, Any] = {}
    if isinstance(full, dict):
        if "rope_theta" in full:
            old["rope_theta"] = full["rope_theta"]
        if full.get("rope_type", "default") != "default":
            old["rope_scaling"] = full
        if "partial_rotary_factor" in full:
            old["partial_rotary_factor"] = full["partial_rotary_factor"]
    sliding = params.get("sliding_attention")
    if isinstance(sliding, dict) and "rope_theta" in sliding:
        old["rope_local_base_freq"] = sliding["rope_theta"]
    return old


def check_config(config_path: Path, config: dict[str, Any], arch_name: str, arch: Architecture) -> None:
    """Refuse settings llama.cpp's graph for the architecture cannot reproduce (it would load the
    file and compute something else)."""
    n_layers = config.get("num_hidden_layers")
    if arch.query_scale_key and config.get(arch.query_scale_key) is not None and "hidden_size" in config:
        n_head = config.get("num_attention_heads") or 1
        head_dim = config.get("head_dim") or config["hidden_size"] // n_head
        used = config["hidden_size"] // n_head if n_layers in arch.query_scale_hidden_layers else head_dim
        if float(config[arch.query_scale_key]) != float(used):
            raise fail("arch_setting", path=config_path, key=arch.query_scale_key,
                       value=config[arch.query_scale_key], arch=arch_name,
                       detail=f"llama.cpp scales attention by 1/sqrt({used}) for this model")
    if arch.no_rope_step and isinstance(n_layers, int):
        step = arch.no_rope_step
        expected = [int((i + 1) % step != 0) for i in range(n_layers)]
        given = config.get("no_rope_layers", expected)
        if [int(bool(x)) for x in given] != expected or config.get("no_rope_layer_interval", step) != step:
            raise fail("arch_setting", path=config_path, key="no_rope_layers", value=given, arch=arch_name,
                       detail=f"llama.cpp skips rope on every {step}th layer and nowhere else")


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
