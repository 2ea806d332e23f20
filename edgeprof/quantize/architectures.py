"""Supported Hugging Face architectures, as data: adding one is one entry in ``ARCHITECTURES``.

Tensor names are mapped by gguf-py's ``TensorNameMap`` for the entry's GGUF architecture; the
entry only states what differs between families. What llama.cpp's graph for the architecture does
by itself (Gemma's embedding scale by sqrt(hidden), its soft-capping, sliding-window masks, Phi-3's
rope factor choice, SmolLM3's rope-less layers) needs no conversion, only the hyperparameters below.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class HParam:
    """One config.json value copied into the GGUF metadata."""

    key: str = field(metadata={"help": "gguf.Keys attribute path, e.g. 'LLM.FINAL_LOGIT_SOFTCAPPING'"})
    config: tuple[str, ...] = field(metadata={"help": "config.json keys tried in order (null counts as absent)"})
    kind: str = field(default="float32", metadata={"help": "GGUF value type: float32 or uint32"})
    default: float | None = field(default=None, metadata={
        "help": "written when config.json has none of the keys; None leaves the key out"})


@dataclass(frozen=True)
class Architecture:
    gguf_arch: str = field(metadata={"help": "llama.cpp's architecture name (general.architecture)"})
    permute_qk: bool = field(metadata={
        "help": "HF stores q/k rows in rotate-half order; llama.cpp's 'llama' graph expects the "
                "interleaved rope order, so q_proj/k_proj rows are permuted on the way"})
    examples: str = field(default="", metadata={"help": "model families this entry covers"})
    qkv_bias: bool = field(default=False, metadata={"help": "q/k/v projections carry a bias (Qwen2)"})
    qk_norm: bool = field(default=False, metadata={"help": "per-head RMS norms on q and k (Qwen3)"})
    norm_shift: float = field(default=0.0, metadata={
        "help": "added to every *norm.weight: Gemma's RMSNorm computes x*(1+w) and stores w, llama.cpp "
                "multiplies by the stored weight, so the converter writes 1+w"})
    config_defaults: tuple[tuple[str, object], ...] = field(default=(), metadata={
        "help": "config.json values the family's HF code assumes when the file leaves them out"})
    hparams: tuple[HParam, ...] = field(default=(), metadata={"help": "extra config values llama.cpp reads"})
    layer_tensors: tuple[str, ...] = field(default=("attn_q",), metadata={
        "help": "GGUF tensors every layer must have (blk.N.<name>.weight); checked before writing"})
    swa_period: int = field(default=0, metadata={
        "help": "sliding-window attention: every Nth layer is global, the others slide (llama.cpp's "
                "default pattern for the architecture); 0: no sliding-window layers"})
    query_scale_key: str = field(default="", metadata={
        "help": "config key of the attention scale's divisor (1/sqrt(value)); llama.cpp uses head_dim"})
    query_scale_hidden_layers: tuple[int, ...] = field(default=(), metadata={
        "help": "layer counts for which llama.cpp uses hidden/heads instead of head_dim (Gemma 27B)"})
    no_rope_step: int = field(default=0, metadata={
        "help": "every Nth layer skips rope (llama.cpp's fixed step for SmolLM3); config.json's "
                "no_rope_layers must follow it"})


_GEMMA_DEFAULTS = (("tie_word_embeddings", True), ("rms_norm_eps", 1e-6))

ARCHITECTURES: dict[str, Architecture] = {
    "LlamaForCausalLM": Architecture("llama", permute_qk=True,
                                     examples="Llama 2/3.x, TinyLlama, SmolLM/SmolLM2"),
    "MistralForCausalLM": Architecture("llama", permute_qk=True, examples="Mistral 7B"),
    "Qwen2ForCausalLM": Architecture("qwen2", permute_qk=False, examples="Qwen2, Qwen2.5", qkv_bias=True),
    "Qwen3ForCausalLM": Architecture("qwen3", permute_qk=False, examples="Qwen3 dense", qk_norm=True),
    "Gemma2ForCausalLM": Architecture(
        "gemma2", permute_qk=False, examples="Gemma 2", norm_shift=1.0, config_defaults=_GEMMA_DEFAULTS,
        hparams=(HParam("LLM.ATTN_LOGIT_SOFTCAPPING", ("attn_logit_softcapping",)),
                 HParam("LLM.FINAL_LOGIT_SOFTCAPPING", ("final_logit_softcapping",))),
        swa_period=2, query_scale_key="query_pre_attn_scalar", query_scale_hidden_layers=(46,)),
    "Gemma3ForCausalLM": Architecture(
        "gemma3", permute_qk=False, examples="Gemma 3 text (270M, 1B)", qk_norm=True, norm_shift=1.0,
        config_defaults=_GEMMA_DEFAULTS,
        hparams=(HParam("LLM.FINAL_LOGIT_SOFTCAPPING", ("final_logit_softcapping",)),
                 HParam("Rope.FREQ_BASE_SWA", ("rope_local_base_freq",))),
        swa_period=6, query_scale_key="query_pre_attn_scalar", query_scale_hidden_layers=(62,)),
    "Phi3ForCausalLM": Architecture(
        "phi3", permute_qk=False, examples="Phi-3/3.5-mini, Phi-4-mini", layer_tensors=("attn_qkv",),
        hparams=(HParam("Rope.SCALING_ORIG_CTX_LEN", ("original_max_position_embeddings", "max_position_embeddings"),
                        kind="uint32"),
                 HParam("Attention.SLIDING_WINDOW", ("sliding_window",), kind="uint32", default=0))),
    "SmolLM3ForCausalLM": Architecture("smollm3", permute_qk=True, examples="SmolLM3", no_rope_step=4,
                                       config_defaults=(("tie_word_embeddings", True),)),
}

# Source tensors that carry nothing llama.cpp needs.
IGNORED_TENSOR_SUFFIXES = ("rotary_emb.inv_freq",)


def supported_list() -> str:
    return ", ".join(f"{name} ({arch.examples})" for name, arch in ARCHITECTURES.items())


def sliding_layers(config: dict, arch: Architecture) -> list[bool]:
    """Which layers use the sliding window, as the HF config says (``layer_types`` or
    ``sliding_window_pattern``, else the family's period): layer i is global when (i+1) % period == 0."""
    n_layers = int(config["num_hidden_layers"])
    if arch.swa_period == 0 or not config.get("sliding_window"):
        return [False] * n_layers
    types = config.get("layer_types")
    if isinstance(types, list) and len(types) == n_layers:
        return [t == "sliding_attention" for t in types]
    period = int(config.get("sliding_window_pattern") or arch.swa_period)
    return [(i + 1) % period != 0 for i in range(n_layers)]


def permute_rotary(rows, n_head: int):
    """Rotate-half (HF) row order -> interleaved-pair (llama.cpp) order, per attention head."""
    head_dim = rows.shape[0] // n_head
    return rows.reshape(n_head, 2, head_dim // 2, *rows.shape[1:]).swapaxes(1, 2).reshape(rows.shape)


def unpermute_rotary(rows, n_head: int):
    """The inverse of ``permute_rotary`` (used to rebuild HF checkpoints from GGUF files)."""
    head_dim = rows.shape[0] // n_head
    return rows.reshape(n_head, head_dim // 2, 2, *rows.shape[1:]).swapaxes(1, 2).reshape(rows.shape)
