"""Checkpoint -> unquantized GGUF (F16/BF16/F32), streamed tensor by tensor in row chunks.

Peak memory is one chunk of one tensor (a few tens of MB), not the model: tensor data is read
from memory-mapped safetensors, converted chunk by chunk and written straight to the file.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeprof.errors import fail
from edgeprof.levels import UNQUANTIZED
from edgeprof.quantize.architectures import IGNORED_TENSOR_SUFFIXES, permute_rotary, sliding_layers
from edgeprof.quantize.checkpoint import Checkpoint
from edgeprof.quantize.safetensors_file import TensorEntry, to_float32
from edgeprof.quantize.tokenizer import Vocab

CHUNK_BYTES = 16 * 1024 * 1024  # float32 bytes converted at a time
SOURCE_HASH_KEY = "edgeprof.source_sha256"
OUTTYPES = {name.lower(): name for name in UNQUANTIZED}  # --outtype spelling -> level name


@dataclass(frozen=True)
class PlannedTensor:
    gguf_name: str
    source: TensorEntry | None  # None for tensors computed here (rope_freqs)
    out_type: str  # "F32", "F16" or "BF16"
    permute_heads: int = 0  # >0: permute rows for rope with this many heads
    computed: np.ndarray | None = None
    offset: float = 0.0  # added to every value (Gemma's norm weights are stored as w-1)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.computed.shape if self.source is None else (self.source.shape or (1,))


def choose_outtype(ckpt: Checkpoint, outtype: str) -> str:
    """'auto' keeps the source's 16-bit type (bf16 stays bf16); f32 sources become f16."""
    if outtype != "auto":
        if outtype not in OUTTYPES:
            raise fail("outtype", name=outtype)
        return OUTTYPES[outtype]
    matrices = [e for e in ckpt.tensors.values() if len(e.shape) == 2]
    largest = max(matrices, key=lambda e: e.nbytes) if matrices else None
    return "BF16" if largest is not None and largest.dtype == "BF16" else "F16"


def plan_tensors(ckpt: Checkpoint, outtype: str) -> list[PlannedTensor]:
    import gguf

    arch = gguf.MODEL_ARCH[ckpt.architecture.gguf_arch.upper()]
    n_layers = ckpt.hparam("num_hidden_layers")
    name_map = gguf.TensorNameMap(arch, n_layers)
    n_head = ckpt.hparam("num_attention_heads")
    n_kv = ckpt.config.get("num_key_value_heads") or n_head
    tied = bool(ckpt.config.get("tie_word_embeddings", False))
    plan = []
    for name, entry in sorted(ckpt.tensors.items(), key=lambda kv: _order(kv[0])):
        if name.endswith(IGNORED_TENSOR_SUFFIXES) or (tied and name == "lm_head.weight"):
            continue
        if entry.dtype not in ("F32", "F16", "BF16"):
            raise fail("dtype_unsupported", path=entry.path, tensor=name, dtype=entry.dtype)
        gguf_name = name_map.get_name(name, try_suffixes=(".weight", ".bias"))
        if gguf_name is None:
            raise fail("tensor_unmapped", path=entry.path, tensor=name, arch=ckpt.architecture_name)
        heads = 0
        if ckpt.architecture.permute_qk and name.endswith(("q_proj.weight", "q_proj.bias")):
            heads = n_head
        elif ckpt.architecture.permute_qk and name.endswith(("k_proj.weight", "k_proj.bias")):
            heads = n_kv
        out_type = outtype if len(entry.shape) >= 2 else "F32"
        offset = ckpt.architecture.norm_shift if name.endswith("norm.weight") else 0.0
        plan.append(PlannedTensor(gguf_name, entry, out_type, heads, offset=offset))
    _check_required(ckpt, plan)
    factors = rope_freqs_llama3(ckpt.config)
    if factors is not None:
        plan.append(PlannedTensor("rope_freqs.weight", None, "F32", computed=factors))
    for name, values in rope_factors_long_short(ckpt).items():
        plan.append(PlannedTensor(name, None, "F32", computed=values))
    return plan


def rope_dimensions(config: dict) -> int:
    """Rotated dimensions per head: all of them unless ``partial_rotary_factor`` says fewer (Phi-4-mini)."""
    head_dim = config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"]
    return int(float(config.get("partial_rotary_factor") or 1.0) * head_dim)


def _longrope(config: dict) -> dict | None:
    scaling = config.get("rope_scaling") or {}
    return scaling if scaling.get("rope_type", scaling.get("type")) in ("longrope", "su") else None


def rope_factors_long_short(ckpt: Checkpoint) -> dict[str, np.ndarray]:
    """Phi-3's long-context rope: per-frequency divisors for contexts beyond the original length
    (long) and within it (short), as the tensors llama.cpp picks between by context size."""
    scaling = _longrope(ckpt.config)
    if scaling is None:
        return {}
    half = rope_dimensions(ckpt.config) // 2
    factors = {}
    for kind in ("long", "short"):
        values = scaling.get(f"{kind}_factor")
        if not isinstance(values, list) or len(values) != half:
            raise fail("rope_factors", path=ckpt.path / "config.json", name=f"{kind}_factor",
                       n=len(values) if isinstance(values, list) else 0, arch=ckpt.architecture_name,
                       rope_dims=half * 2, expected=half)
        factors[f"rope_factors_{kind}.weight"] = np.asarray(values, dtype=np.float32)
    return factors


def longrope_attn_factor(config: dict) -> float:
    """The cos/sin scale of long-context rope: the config's ``attention_factor``, else
    sqrt(1 + ln(s) / ln(original context)) with s = context / original context (1 when s <= 1)."""
    scaling = _longrope(config) or {}
    if scaling.get("attention_factor") is not None:
        return float(scaling["attention_factor"])
    original = float(scaling.get("original_max_position_embeddings")
                     or config.get("original_max_position_embeddings") or config["max_position_embeddings"])
    s = float(config["max_position_embeddings"]) / original
    return math.sqrt(1 + math.log(s) / math.log(original)) if s > 1 else 1.0


def rope_freqs_llama3(config: dict) -> np.ndarray | None:
    """Llama 3.1+ rope scaling as llama.cpp reads it: a per-frequency divisor (rope_freqs tensor).

    Long wavelengths are slowed by ``factor``, short ones kept, and the band between the
    low/high-frequency wavelengths blended smoothly (the rule published with Llama 3.1).
    """
    scaling = config.get("rope_scaling") or {}
    if scaling.get("rope_type", scaling.get("type")) != "llama3":
        return None
    head_dim = config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"]
    base = float(config.get("rope_theta", 10000.0))
    factor = float(scaling.get("factor", 8.0))
    low, high = float(scaling.get("low_freq_factor", 1.0)), float(scaling.get("high_freq_factor", 4.0))
    original = float(scaling.get("original_max_position_embeddings", 8192))
    freqs = 1.0 / base ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    wavelen = 2 * np.pi / freqs
    smooth = np.clip((original / wavelen - low) / (high - low), 0.0, 1.0)
    divisor = 1.0 / ((1 - smooth) / factor + smooth)
    return divisor.astype(np.float32)


def _order(name: str) -> tuple:
    """Embedding first, then layers in numeric order, then the rest (as llama.cpp's files are)."""
    parts = name.split(".")
    layer = next((int(p) for p in parts if p.isdigit()), -1)
    first = 0 if "embed_tokens" in name else (2 if layer < 0 else 1)
    return first, layer, name


def _check_required(ckpt: Checkpoint, plan: list[PlannedTensor]) -> None:
    names = {p.gguf_name for p in plan}
    required = ["token_embd.weight", "output_norm.weight"]
    required += [f"blk.{i}.{t}.weight" for i in range(ckpt.hparam("num_hidden_layers"))
                 for t in ckpt.architecture.layer_tensors]
    for name in required:
        if name not in names:
            raise fail("tensor_missing", path=ckpt.path, tensor=name)


def nbytes_of(tensor: PlannedTensor) -> int:
    n = int(np.prod(tensor.shape, dtype=np.int64))
    return n * (4 if tensor.out_type == "F32" else 2)


def iter_chunks(tensor: PlannedTensor):
    """Yield the output bytes of one tensor, a row chunk at a time."""
    if tensor.source is None:
        yield _encode(tensor.computed, tensor.out_type)
        return
    entry = tensor.source
    shape = entry.shape or (1,)
    row_elems = int(np.prod(shape[1:], dtype=np.int64)) if len(shape) > 1 else shape[0]
    rows = shape[0] if len(shape) > 1 else 1
    step = max(1, CHUNK_BYTES // max(1, row_elems * 4))
    if tensor.permute_heads:
        head_rows = rows // tensor.permute_heads
        step = max(head_rows, step // head_rows * head_rows)
    for start in range(0, rows, step):
        block = to_float32(entry, slice(start, start + step)) if len(shape) > 1 else to_float32(entry)
        if tensor.permute_heads:
            block = permute_rotary(block, block.shape[0] // (rows // tensor.permute_heads))
        if tensor.offset:
            block = block + np.float32(tensor.offset)
        yield _encode(block, tensor.out_type)


def _encode(block: np.ndarray, out_type: str) -> bytes:
    if out_type == "F32":
        return np.ascontiguousarray(block, dtype=np.float32).tobytes()
    if out_type == "F16":
        return block.astype(np.float16).tobytes()
    return _to_bf16(block)


def _to_bf16(block: np.ndarray) -> bytes:
    """float32 -> bfloat16 with round-to-nearest-even (exact for values that came from bf16)."""
    bits = np.ascontiguousarray(block, dtype=np.float32).view(np.uint32)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    return rounded.astype(np.uint16).tobytes()


def write_gguf(ckpt: Checkpoint, vocab: Vocab, plan: list[PlannedTensor], out_type: str, tmp_path: Path,
               model_name: str, source_hash: str, on_bytes: Callable[[int], None]) -> None:
    """Write the whole GGUF to ``tmp_path``; the caller renames it when this returns."""
    import gguf

    writer = begin_gguf(ckpt, vocab, plan, tmp_path, model_name, UNQUANTIZED[out_type])
    writer.add_string(SOURCE_HASH_KEY, source_hash)
    raw = {"F32": gguf.GGMLQuantizationType.F32, "F16": gguf.GGMLQuantizationType.F16,
           "BF16": gguf.GGMLQuantizationType.BF16}
    tensors = [(t.gguf_name, t.shape, raw[t.out_type], nbytes_of(t), lambda t=t: iter_chunks(t)) for t in plan]
    write_tensors(writer, tensors, on_bytes)


def begin_gguf(ckpt: Checkpoint, vocab: Vocab, plan: list[PlannedTensor], tmp_path: Path, model_name: str,
               file_type: int):
    """A GGUF writer with the model's hyperparameters, vocabulary and description added."""
    import gguf

    writer = gguf.GGUFWriter(tmp_path, ckpt.architecture.gguf_arch)
    _add_hparams(writer, ckpt)
    _add_vocab(writer, vocab, ckpt)
    _add_metadata(writer, ckpt, plan, model_name)
    writer.add_type(gguf.GGUFType.MODEL)
    writer.add_file_type(file_type)
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    return writer


# (GGUF name, shape in numpy order, ggml type, bytes, a function giving the data in chunks or None)
TensorData = tuple


def write_tensors(writer, tensors: list[TensorData], on_bytes: Callable[[int], None] = lambda n: None) -> None:
    """Tensor infos, then each tensor's data; a tensor without a data function is left as a hole
    (a sparse file: its size on disk is what was written, not its length)."""
    for name, shape, qtype, nbytes, _ in tensors:
        writer.add_tensor_info(name, shape, np.dtype(np.float32), nbytes, raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    out = writer.fout[0]
    writer.write_padding(out, out.tell())
    for _, _, _, nbytes, data in tensors:
        if data is None:
            out.seek(nbytes, 1)
        else:
            for chunk in data():
                out.write(chunk)
                on_bytes(len(chunk))
        writer.write_padding(out, nbytes)
    out.truncate(out.tell())  # a trailing hole still counts towards the file's length
    writer.close()


def _add_hparams(writer, ckpt: Checkpoint) -> None:
    c = ckpt.config
    n_head = ckpt.hparam("num_attention_heads")
    hidden = ckpt.hparam("hidden_size")
    head_dim = c.get("head_dim") or hidden // n_head
    writer.add_vocab_size(ckpt.hparam("vocab_size"))
    writer.add_context_length(ckpt.hparam("max_position_embeddings"))
    writer.add_embedding_length(hidden)
    writer.add_block_count(ckpt.hparam("num_hidden_layers"))
    writer.add_feed_forward_length(ckpt.hparam("intermediate_size"))
    writer.add_head_count(n_head)
    writer.add_head_count_kv(c.get("num_key_value_heads") or n_head)
    writer.add_rope_freq_base(float(c.get("rope_theta", 10000.0)))
    writer.add_layer_norm_rms_eps(float(c.get("rms_norm_eps", 1e-6)))
    writer.add_rope_dimension_count(rope_dimensions(c))
    if head_dim != hidden // n_head:
        writer.add_key_length(head_dim)
        writer.add_value_length(head_dim)
    _add_rope_scaling(writer, c)
    _add_arch_hparams(writer, ckpt)


def _add_arch_hparams(writer, ckpt: Checkpoint) -> None:
    """The architecture's table of extra values (soft-capping, sliding window, ...)."""
    import gguf

    arch = ckpt.architecture
    for hp in arch.hparams:
        value = next((ckpt.config[k] for k in hp.config if ckpt.config.get(k) is not None), hp.default)
        if value is None:
            continue
        group, name = hp.key.split(".")
        key = getattr(getattr(gguf.Keys, group), name).format(arch=arch.gguf_arch)
        if hp.kind == "uint32":
            writer.add_uint32(key, int(value))
        else:
            writer.add_float32(key, float(value))
    if arch.swa_period:
        flags = sliding_layers(ckpt.config, arch)
        if any(flags):
            writer.add_sliding_window(int(ckpt.config["sliding_window"]))
        if flags != [(i + 1) % arch.swa_period != 0 for i in range(len(flags))]:
            writer.add_sliding_window_pattern(flags)


def _add_rope_scaling(writer, config: dict) -> None:
    import gguf

    scaling = config.get("rope_scaling") or {}
    kind = scaling.get("rope_type", scaling.get("type"))
    if kind == "linear":
        writer.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        writer.add_rope_scaling_factor(float(scaling["factor"]))
    elif kind == "yarn":
        writer.add_rope_scaling_type(gguf.RopeScalingType.YARN)
        writer.add_rope_scaling_factor(float(scaling["factor"]))
        writer.add_rope_scaling_orig_ctx_len(int(scaling["original_max_position_embeddings"]))
    elif kind in ("longrope", "su"):  # the factors are tensors (rope_factors_long_short)
        writer.add_rope_scaling_type(gguf.RopeScalingType.LONGROPE)
        writer.add_rope_scaling_attn_factors(longrope_attn_factor(config))
    # llama3 scaling is written as the rope_freqs tensor (see rope_freqs_llama3); nothing here.


def _add_vocab(writer, vocab: Vocab, ckpt: Checkpoint) -> None:
    import gguf

    writer.add_tokenizer_model(vocab.model)
    writer.add_tokenizer_pre(vocab.pre)
    writer.add_token_list(vocab.tokens)
    writer.add_token_types(vocab.token_types)
    if vocab.add_space_prefix is not None:
        writer.add_add_space_prefix(vocab.add_space_prefix)
    if vocab.scores is not None:
        writer.add_token_scores(vocab.scores)
    if vocab.merges:
        writer.add_token_merges(vocab.merges)
    special = gguf.SpecialVocab(ckpt.path, load_merges=False, n_vocab=len(vocab.tokens))
    special.add_to_gguf(writer, quiet=True)


def _add_metadata(writer, ckpt: Checkpoint, plan: list[PlannedTensor], model_name: str) -> None:
    import gguf

    total = sum(int(np.prod(t.shape, dtype=np.int64)) for t in plan if t.source is not None)
    meta = gguf.Metadata.load(None, ckpt.path, model_name, total)
    meta.name = model_name
    if meta.size_label is None:
        meta.size_label = gguf.size_label(total, 0, 0, 0)
    meta.set_gguf_meta_model(writer)
