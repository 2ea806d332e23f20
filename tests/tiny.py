"""Build tiny but real Hugging Face checkpoints for the tests: random weights, a tokenizer trained
on the fly (byte-level BPE with `tokenizers`, or SentencePiece), config.json, safetensors."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeprof.quantize.safetensors_file import write_safetensors

CORPUS = [
    "The quick brown fox jumps over the lazy dog. A profiler measures time and memory.",
    "def decode(tokens):\n    return [t for t in tokens if t >= 0]  # keep valid ids\n",
    "Edge devices like the Raspberry Pi 5 and the Jetson Orin run small language models.",
    "Numbers: 3.14159, 2026, 1000000 and 42 appear in text; so do dates like 2024-05-01.",
    "Unicode: café, naïve, Straße, Ελληνικά, русский текст, and emoji 🙂🚀 are common.",
    "中文文本也会出现在这里，模型需要正确地切分它。日本語のテキストもあります。",
    "   whitespace   runs\tand\ttabs\n\n\nnewlines   are   tricky    for tokenizers.",
    "Quantization trades accuracy for speed: Q8_0, Q6_K, Q4_K_M and Q2_K are levels.",
]
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+"
                r"[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
GPT4O_SPLIT = (r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+"
               r"(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+"
               r"[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+"
               r"[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+")  # Phi-4-mini's (o200k) split, as its tokenizer.json has it
CHAT_TEMPLATE = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
                 "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


@dataclass(frozen=True)
class TinySpec:
    arch: str = "LlamaForCausalLM"
    tokenizer: str = "smollm"  # smollm | llama3 | gpt2 | gpt4o | spm | gemma-spm | phi3-spm | llama2-hf | metaspace
    dtype: str = "F16"  # source dtype: F32, F16, BF16
    hidden: int = 256
    layers: int = 2
    heads: int = 4
    kv_heads: int = 2
    ffn: int = 512
    tied: bool = False
    shards: int = 1
    extra_vocab: int = 7  # config vocab_size beyond the tokenizer's (padding tokens)
    head_dim: int | None = None
    rope_scaling: dict | None = None
    seed: int = 0
    config_extra: dict = field(default_factory=dict)


def train_bpe(style: str):
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=style not in ("llama3", "gpt4o"))
    if style == "smollm":
        tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level])
    elif style in ("llama3", "gpt4o"):
        split = pre_tokenizers.Split(Regex(LLAMA3_SPLIT if style == "llama3" else GPT4O_SPLIT),
                                     behavior="isolated", invert=False)
        tok.pre_tokenizer = pre_tokenizers.Sequence([split, byte_level])
    else:
        tok.pre_tokenizer = byte_level
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=700, special_tokens=SPECIALS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS * 20, trainer)
    return tok


def train_spm(folder: Path, gemma: bool = False, vocab_size: int = 400) -> None:
    """A SentencePiece BPE model; ``gemma``: Gemma's layout (no dummy-prefix space, ids pad 0, eos 1,
    bos 2, unk 3, user-defined turn markers)."""
    import sentencepiece as spm

    model = io.BytesIO()
    ids = dict(pad_id=0, eos_id=1, bos_id=2, unk_id=3, pad_piece="<pad>", eos_piece="<eos>", bos_piece="<bos>",
               user_defined_symbols=GEMMA_TURNS, add_dummy_prefix=False) if gemma else \
        dict(unk_id=0, bos_id=1, eos_id=2, pad_id=-1)
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(CORPUS * 20), model_writer=model, vocab_size=vocab_size, model_type="bpe",
        byte_fallback=True, split_digits=True, normalization_rule_name="identity",
        remove_extra_whitespaces=False, character_coverage=1.0, minloglevel=2, **ids)
    (folder / "tokenizer.model").write_bytes(model.getvalue())


GEMMA_TURNS = ["<start_of_turn>", "<end_of_turn>"]
PHI3_ADDED = [("<|endoftext|>", True), ("<|user|>", True), ("<|assistant|>", True), ("<|end|>", True),
              ("<|placeholder1|>", False)]  # the last one is not marked special but looks special
SPACE = "\u2581"


def spm_to_tokenizer_json(model_file: Path, style: str) -> dict:
    """A Llama-2-HF style tokenizer.json made from a SentencePiece BPE model, the way such files are
    made: the pieces as the BPE vocabulary (<0xXX> byte pieces included, byte_fallback on) and as
    merges every split of a piece into two pieces, ordered by the piece's rank.
    ``style``: "llama2-hf" (normalizers Prepend + Replace) or "metaspace" (a Metaspace pre-tokenizer)."""
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(model_file))
    pieces = [sp.IdToPiece(i) for i in range(sp.vocab_size())]
    vocab = {piece: i for i, piece in enumerate(pieces)}
    normal = {p for i, p in enumerate(pieces) if not (sp.IsControl(i) or sp.IsUnknown(i) or sp.IsByte(i))}
    merges = []
    for piece in sorted(normal, key=vocab.__getitem__):
        splits = [(piece[:k], piece[k:]) for k in range(1, len(piece))]
        merges += sorted(((a, b) for a, b in splits if a in normal and b in normal),
                         key=lambda ab: (vocab[ab[0]], vocab[ab[1]]))
    special = [{"id": i, "content": p, "single_word": False, "lstrip": False, "rstrip": False,
                "normalized": False, "special": True}
               for i, p in enumerate(pieces) if sp.IsControl(i) or sp.IsUnknown(i)]
    to_space = {"type": "Replace", "pattern": {"String": " "}, "content": SPACE}
    if style == "llama2-hf":
        normalizer = {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": SPACE}, to_space]}
        pre = None
    else:
        normalizer, pre = None, {"type": "Metaspace", "replacement": SPACE, "prepend_scheme": "always",
                                 "split": False}
    decoder = {"type": "Sequence", "decoders": [
        {"type": "Replace", "pattern": {"String": SPACE}, "content": " "}, {"type": "ByteFallback"},
        {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}
    return {"version": "1.0", "truncation": None, "padding": None, "added_tokens": special,
            "normalizer": normalizer, "pre_tokenizer": pre, "post_processor": None, "decoder": decoder,
            "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
                      "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True,
                      "ignore_merges": False, "vocab": vocab, "merges": [list(m) for m in merges]}}


def _write_tokenizer(folder: Path, spec: TinySpec) -> int:
    if spec.tokenizer in ("spm", "gemma-spm", "phi3-spm", "llama2-hf", "metaspace"):
        gemma = spec.tokenizer == "gemma-spm"
        train_spm(folder, gemma=gemma, vocab_size=400 if spec.tokenizer == "spm" else 560)
        import sentencepiece as spm

        n = spm.SentencePieceProcessor(model_file=str(folder / "tokenizer.model")).vocab_size()
        config = {"bos_token": "<s>", "eos_token": "</s>", "add_bos_token": True, "add_eos_token": False}
        if gemma:
            config = {"bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>", "add_bos_token": True,
                      "added_tokens_decoder": {str(i): {"content": t, "special": True} for i, t in
                                               enumerate(["<pad>", "<eos>", "<bos>", "<unk>"] + GEMMA_TURNS)}}
        elif spec.tokenizer == "phi3-spm":
            config["added_tokens_decoder"] = {str(n + i): {"content": t, "special": special}
                                              for i, (t, special) in enumerate(PHI3_ADDED)}
            n += len(PHI3_ADDED)
        elif spec.tokenizer in ("llama2-hf", "metaspace"):
            data = spm_to_tokenizer_json(folder / "tokenizer.model", spec.tokenizer)
            (folder / "tokenizer.json").write_text(json.dumps(data, ensure_ascii=False))
            (folder / "tokenizer.model").unlink()  # tokenizer.json alone, as such checkpoints ship
    else:
        tok = train_bpe(spec.tokenizer)
        tok.save(str(folder / "tokenizer.json"))
        n = tok.get_vocab_size()
        config = {"bos_token": "<|endoftext|>", "eos_token": "<|im_end|>", "add_bos_token": False,
                  "chat_template": CHAT_TEMPLATE}
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    return n


def _weights(spec: TinySpec, vocab: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    head_dim = spec.head_dim or spec.hidden // spec.heads
    gemma = spec.arch.startswith("Gemma")
    norm_one = 0.0 if gemma else 1.0  # Gemma stores RMSNorm weights as w - 1
    w: dict[str, np.ndarray] = {"model.embed_tokens.weight": rng.normal(0, 0.5, (vocab, spec.hidden))}
    if gemma:  # llama.cpp and HF scale Gemma's embeddings by sqrt(hidden): keep activations moderate
        w["model.embed_tokens.weight"] /= np.sqrt(spec.hidden)
    for i in range(spec.layers):
        p = f"model.layers.{i}."
        w[p + "input_layernorm.weight"] = norm_one + rng.normal(0, 0.1, spec.hidden)
        w[p + "post_attention_layernorm.weight"] = norm_one + rng.normal(0, 0.1, spec.hidden)
        w[p + "self_attn.q_proj.weight"] = rng.normal(0, 0.08, (spec.heads * head_dim, spec.hidden))
        w[p + "self_attn.k_proj.weight"] = rng.normal(0, 0.08, (spec.kv_heads * head_dim, spec.hidden))
        w[p + "self_attn.v_proj.weight"] = rng.normal(0, 0.08, (spec.kv_heads * head_dim, spec.hidden))
        w[p + "self_attn.o_proj.weight"] = rng.normal(0, 0.08, (spec.hidden, spec.heads * head_dim))
        w[p + "mlp.gate_proj.weight"] = rng.normal(0, 0.08, (spec.ffn, spec.hidden))
        w[p + "mlp.up_proj.weight"] = rng.normal(0, 0.08, (spec.ffn, spec.hidden))
        w[p + "mlp.down_proj.weight"] = rng.normal(0, 0.08, (spec.hidden, spec.ffn))
        if spec.arch == "Qwen2ForCausalLM":
            for name, rows in (("q", spec.heads), ("k", spec.kv_heads), ("v", spec.kv_heads)):
                w[p + f"self_attn.{name}_proj.bias"] = rng.normal(0, 0.1, rows * head_dim)
        if spec.arch in ("Qwen3ForCausalLM", "Gemma3ForCausalLM"):
            w[p + "self_attn.q_norm.weight"] = norm_one + rng.normal(0, 0.1, head_dim)
            w[p + "self_attn.k_norm.weight"] = norm_one + rng.normal(0, 0.1, head_dim)
        if gemma:
            w[p + "pre_feedforward_layernorm.weight"] = rng.normal(0, 0.1, spec.hidden)
            w[p + "post_feedforward_layernorm.weight"] = rng.normal(0, 0.1, spec.hidden)
        if spec.arch == "Phi3ForCausalLM":  # fused projections, as Phi-3 checkpoints store them
            w[p + "self_attn.qkv_proj.weight"] = np.concatenate([w.pop(p + f"self_attn.{n}_proj.weight")
                                                                 for n in "qkv"])
            w[p + "mlp.gate_up_proj.weight"] = np.concatenate([w.pop(p + "mlp.gate_proj.weight"),
                                                               w.pop(p + "mlp.up_proj.weight")])
    w["model.norm.weight"] = norm_one + rng.normal(0, 0.1, spec.hidden)
    if not spec.tied:
        w["lm_head.weight"] = rng.normal(0, 0.08, (vocab, spec.hidden))
    return w


def _representable(values: np.ndarray, dtype: str) -> np.ndarray:
    """Round to what the stored dtype can hold, so source and reference agree exactly."""
    if dtype == "F16":
        return values.astype(np.float16).astype(np.float32)
    if dtype == "BF16":
        bits = values.astype(np.float32).view(np.uint32)
        return ((bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000).view(np.float32)
    return values.astype(np.float32)


def _stored(values: np.ndarray, dtype: str) -> tuple[str, np.ndarray]:
    if dtype == "BF16":
        return "BF16", (values.astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
    return dtype, values.astype(np.float16 if dtype == "F16" else np.float32)


def build_checkpoint(folder: Path, spec: TinySpec = TinySpec()) -> dict[str, np.ndarray]:
    """Write the checkpoint into ``folder``; returns the weights (float32, exactly as stored)."""
    folder.mkdir(parents=True, exist_ok=True)
    n_tokens = _write_tokenizer(folder, spec)
    vocab = n_tokens + spec.extra_vocab
    rng = np.random.default_rng(spec.seed)
    weights = {k: _representable(v, spec.dtype) for k, v in _weights(spec, vocab, rng).items()}
    config = {
        "architectures": [spec.arch], "model_type": spec.arch.removesuffix("ForCausalLM").lower(),
        "hidden_size": spec.hidden, "intermediate_size": spec.ffn, "num_hidden_layers": spec.layers,
        "num_attention_heads": spec.heads, "num_key_value_heads": spec.kv_heads, "vocab_size": vocab,
        "max_position_embeddings": 512, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
        "tie_word_embeddings": spec.tied, "bos_token_id": 1 if spec.tokenizer == "spm" else 0,
        "eos_token_id": 2, "torch_dtype": {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}[spec.dtype],
    }
    if spec.head_dim:
        config["head_dim"] = spec.head_dim
    if spec.rope_scaling:
        config["rope_scaling"] = spec.rope_scaling
    config.update(spec.config_extra)
    (folder / "config.json").write_text(json.dumps(config, indent=1))
    _write_shards(folder, weights, spec)
    return weights


def _write_shards(folder: Path, weights: dict[str, np.ndarray], spec: TinySpec) -> None:
    names = list(weights)
    if spec.shards == 1:
        write_safetensors(folder / "model.safetensors", {n: _stored(weights[n], spec.dtype) for n in names})
        return
    weight_map = {}
    for k in range(spec.shards):
        part = names[k::spec.shards]
        shard = f"model-{k + 1:05d}-of-{spec.shards:05d}.safetensors"
        write_safetensors(folder / shard, {n: _stored(weights[n], spec.dtype) for n in part})
        weight_map.update({n: shard for n in part})
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
