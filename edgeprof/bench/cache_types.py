"""The KV cache types llama.cpp's contexts take (``--cache-type``), with ggml's ids and sizes from
gguf-py's own tables (GGMLQuantizationType, GGML_QUANT_SIZES) rather than spelled out here."""

from __future__ import annotations

# Those llama.cpp accepts for K and V (flash attention is needed for quantized V on most backends).
CACHE_TYPES = ("f32", "f16", "bf16", "q8_0", "q5_1", "q5_0", "q4_1", "q4_0", "iq4_nl")


def ggml_type(name: str) -> int:
    """ggml's type id of a cache type name (as llama_context_params.type_k/type_v want it)."""
    from gguf import GGMLQuantizationType

    return GGMLQuantizationType[name.upper()].value


def bytes_per_element(name: str) -> float:
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

    block, block_bytes = GGML_QUANT_SIZES[GGMLQuantizationType[name.upper()]]
    return block_bytes / block
