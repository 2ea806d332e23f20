"""Supported Hugging Face architectures, as data: adding one is one entry in ``ARCHITECTURES``.

Tensor names are mapped by gguf-py's ``TensorNameMap`` for the entry's GGUF architecture; the
entry only states what differs between families.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Architecture:
    gguf_arch: str = field(metadata={"help": "llama.cpp's architecture name (general.architecture)"})
    permute_qk: bool = field(metadata={
        "help": "HF stores q/k rows in rotate-half order; llama.cpp's 'llama' graph expects the "
                "interleaved rope order, so q_proj/k_proj rows are permuted on the way"})
    examples: str = field(default="", metadata={"help": "model families this entry covers"})
    qkv_bias: bool = field(default=False, metadata={"help": "q/k/v projections carry a bias (Qwen2)"})
    qk_norm: bool = field(default=False, metadata={"help": "per-head RMS norms on q and k (Qwen3)"})


ARCHITECTURES: dict[str, Architecture] = {
    "LlamaForCausalLM": Architecture("llama", permute_qk=True,
                                     examples="Llama 2/3.x, TinyLlama, SmolLM/SmolLM2"),
    "MistralForCausalLM": Architecture("llama", permute_qk=True, examples="Mistral 7B"),
    "Qwen2ForCausalLM": Architecture("qwen2", permute_qk=False, examples="Qwen2, Qwen2.5", qkv_bias=True),
    "Qwen3ForCausalLM": Architecture("qwen3", permute_qk=False, examples="Qwen3 dense", qk_norm=True),
}

# Source tensors that carry nothing llama.cpp needs.
IGNORED_TENSOR_SUFFIXES = ("rotary_emb.inv_freq",)


def supported_list() -> str:
    return ", ".join(f"{name} ({arch.examples})" for name, arch in ARCHITECTURES.items())


def permute_rotary(rows, n_head: int):
    """Rotate-half (HF) row order -> interleaved-pair (llama.cpp) order, per attention head."""
    head_dim = rows.shape[0] // n_head
    return rows.reshape(n_head, 2, head_dim // 2, *rows.shape[1:]).swapaxes(1, 2).reshape(rows.shape)


def unpermute_rotary(rows, n_head: int):
    """The inverse of ``permute_rotary`` (used to rebuild HF checkpoints from GGUF files)."""
    head_dim = rows.shape[0] // n_head
    return rows.reshape(n_head, head_dim // 2, 2, *rows.shape[1:]).swapaxes(1, 2).reshape(rows.shape)
