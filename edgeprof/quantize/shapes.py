"""The tensors a checkpoint of a supported architecture has, from its config.json alone: names
(Hugging Face's) and shapes. Synthetic models are planned from this, with no weights at hand."""

from __future__ import annotations

import math
from pathlib import Path

from edgeprof.errors import fail
from edgeprof.quantize.checkpoint import Checkpoint
from edgeprof.quantize.safetensors_file import TensorEntry


def tensor_shapes(ckpt: Checkpoint) -> dict[str, tuple[int, ...]]:
    """HF tensor name -> shape (rows, cols) for the checkpoint's architecture and config."""
    hidden, ffn = ckpt.hparam("hidden_size"), ckpt.hparam("intermediate_size")
    n_head = ckpt.hparam("num_attention_heads")
    n_kv = ckpt.config.get("num_key_value_heads") or n_head
    head_dim = ckpt.config.get("head_dim") or hidden // n_head
    vocab = ckpt.hparam("vocab_size")
    shapes: dict[str, tuple[int, ...]] = {"model.embed_tokens.weight": (vocab, hidden)}
    for i in range(ckpt.hparam("num_hidden_layers")):
        p = f"model.layers.{i}."
        shapes.update({
            p + "input_layernorm.weight": (hidden,), p + "post_attention_layernorm.weight": (hidden,),
            p + "self_attn.q_proj.weight": (n_head * head_dim, hidden),
            p + "self_attn.k_proj.weight": (n_kv * head_dim, hidden),
            p + "self_attn.v_proj.weight": (n_kv * head_dim, hidden),
            p + "self_attn.o_proj.weight": (hidden, n_head * head_dim),
            p + "mlp.gate_proj.weight": (ffn, hidden), p + "mlp.up_proj.weight": (ffn, hidden),
            p + "mlp.down_proj.weight": (hidden, ffn),
        })
        if ckpt.architecture.qkv_bias:
            for name, heads in (("q", n_head), ("k", n_kv), ("v", n_kv)):
                shapes[p + f"self_attn.{name}_proj.bias"] = (heads * head_dim,)
        if ckpt.architecture.qk_norm:
            shapes[p + "self_attn.q_norm.weight"] = (head_dim,)
            shapes[p + "self_attn.k_norm.weight"] = (head_dim,)
    shapes["model.norm.weight"] = (hidden,)
    if not ckpt.config.get("tie_word_embeddings", False):
        shapes["lm_head.weight"] = (vocab, hidden)
    return shapes


def check_shapes(ckpt: Checkpoint) -> None:
    """Every weight's shape against what config.json implies, before anything is written: a mismatch
    would otherwise become a GGUF that llama.cpp refuses to load ("wrong shape")."""
    for name, expected in tensor_shapes(ckpt).items():
        entry = ckpt.tensors.get(name)
        if entry is not None and tuple(entry.shape) != expected:
            raise fail("tensor_shape", path=entry.path, tensor=name, shape=list(entry.shape), expected=list(expected))


def weightless(ckpt: Checkpoint, dtype: str = "F16") -> Checkpoint:
    """The checkpoint with entries for every tensor its config implies and no data behind them
    (1-D tensors F32, as the converter writes them; offsets are meaningless)."""
    entries = {}
    for name, shape in tensor_shapes(ckpt).items():
        kind = dtype if len(shape) > 1 else "F32"
        size = 2 if kind in ("F16", "BF16") else 4
        entries[name] = TensorEntry(name, kind, shape, Path(ckpt.path / "config.json"), 0, math.prod(shape) * size)
    return Checkpoint(ckpt.path, ckpt.config, ckpt.architecture_name, ckpt.architecture, entries)
