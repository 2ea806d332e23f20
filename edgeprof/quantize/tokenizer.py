"""Tokenizers -> the vocabulary llama.cpp reads: BPE from tokenizer.json, SentencePiece from tokenizer.model.

llama.cpp does not run the Hugging Face pre-tokenizer; it re-implements a fixed set of them and
picks one by the ``tokenizer.ggml.pre`` name. ``PRE_TOKENIZERS`` maps the pre-tokenizer found in
tokenizer.json to that name; a test checks that llama.cpp then tokenizes like the source.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeprof.errors import fail
from edgeprof.hub import TOKENIZER_SIDE_FILES

# gguf TokenType values (llama.cpp's llama_token_type)
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6

_LLAMA3_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+"
                 r"[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
_QWEN2_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+"
                r"[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")

# A pre-tokenizer's signature (see ``_signature``) -> llama.cpp's pre-tokenizer name.
PRE_TOKENIZERS: dict[tuple, str] = {
    (("ByteLevel", True),): "gpt-2",
    (("Digits", True), ("ByteLevel", True)): "smollm",
    (("Split", _LLAMA3_REGEX), ("ByteLevel", False)): "llama-bpe",
    (("Split", _QWEN2_REGEX), ("ByteLevel", False)): "qwen2",
}


@dataclass(frozen=True)
class Vocab:
    model: str  # tokenizer.ggml.model: "gpt2" (byte-level BPE) or "llama" (SentencePiece)
    pre: str  # tokenizer.ggml.pre
    tokens: list[str]
    token_types: list[int]
    scores: list[float] | None
    merges: list[str]




def load_vocab(folder: Path, vocab_size: int) -> Vocab:
    """Read the checkpoint's tokenizer, padded to ``vocab_size`` (config.json) as llama.cpp expects."""
    from edgeprof.quantize.checkpoint import read_json

    for name in TOKENIZER_SIDE_FILES:  # read later by gguf-py's SpecialVocab, which raises bare JSON errors
        if (folder / name).is_file() and not isinstance(read_json(folder / name), dict):
            raise fail("bad_json", path=folder / name, detail="expected a JSON object")
    if (folder / "tokenizer.model").is_file():
        vocab = _sentencepiece(folder / "tokenizer.model")
    elif (folder / "tokenizer.json").is_file():
        vocab = _bpe(folder / "tokenizer.json")
    else:
        raise fail("tokenizer_missing", path=folder)
    return _pad(vocab, vocab_size, folder)


def _pad(vocab: Vocab, vocab_size: int, folder: Path) -> Vocab:
    missing = vocab_size - len(vocab.tokens)
    if missing < 0:
        raise fail("vocab_mismatch", path=folder, n_tokens=len(vocab.tokens), vocab_size=vocab_size)
    if missing == 0:
        return vocab
    start = len(vocab.tokens)
    return Vocab(
        vocab.model, vocab.pre,
        vocab.tokens + [f"[PAD{i}]" for i in range(start, vocab_size)],
        vocab.token_types + [UNUSED] * missing,
        None if vocab.scores is None else vocab.scores + [-1000.0] * missing,
        vocab.merges,
    )


def _bpe(path: Path) -> Vocab:
    from edgeprof.quantize.checkpoint import read_json

    data = read_json(path)
    model = data.get("model", {})
    if model.get("type") != "BPE" or (data.get("decoder") or {}).get("type") != "ByteLevel":
        raise fail("tokenizer_unsupported", path=path,
                   detail=f"model {model.get('type')!r} with decoder {(data.get('decoder') or {}).get('type')!r}")
    by_id: dict[int, str] = {int(i): tok for tok, i in model["vocab"].items()}
    types: dict[int, int] = {}
    for added in data.get("added_tokens") or []:
        by_id[int(added["id"])] = added["content"]
        types[int(added["id"])] = CONTROL if added.get("special") else USER_DEFINED
    size = max(by_id) + 1 if by_id else 0
    tokens = [by_id.get(i, f"[PAD{i}]") for i in range(size)]
    token_types = [types.get(i, NORMAL if i in by_id else UNUSED) for i in range(size)]
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
    return Vocab("gpt2", _pre_tokenizer_name(path, data.get("pre_tokenizer")), tokens, token_types, None, merges)


def _signature(pre: dict[str, Any] | None) -> tuple:
    if pre is None:
        return ()
    steps = pre["pretokenizers"] if pre.get("type") == "Sequence" else [pre]
    sig = []
    for step in steps:
        kind = step.get("type")
        if kind == "ByteLevel":
            sig.append((kind, bool(step.get("use_regex", True))))
        elif kind == "Digits":
            sig.append((kind, bool(step.get("individual_digits", False))))
        elif kind == "Split":
            pattern = step.get("pattern", {})
            sig.append((kind, pattern.get("Regex", pattern.get("String"))))
        else:
            sig.append((kind, json.dumps(step, sort_keys=True)))
    return tuple(sig)


def _pre_tokenizer_name(path: Path, pre: dict[str, Any] | None) -> str:
    sig = _signature(pre)
    if sig not in PRE_TOKENIZERS:
        steps = ", ".join(kind for kind, _ in sig) or "none"
        raise fail("tokenizer_unsupported", path=path,
                   detail=f"pre-tokenizer [{steps}] "
                          f"(llama.cpp supports: {', '.join(sorted(set(PRE_TOKENIZERS.values())))})")
    return PRE_TOKENIZERS[sig]


def _sentencepiece(path: Path) -> Vocab:
    from sentencepiece import SentencePieceProcessor

    sp = SentencePieceProcessor()
    try:
        sp.LoadFromFile(str(path))
    except (OSError, RuntimeError) as exc:
        raise fail("tokenizer_unsupported", path=path, detail=f"(unreadable: {exc})") from None
    tokens, types, scores = [], [], []
    for i in range(sp.vocab_size()):
        tokens.append(sp.IdToPiece(i))
        scores.append(sp.GetScore(i))
        types.append(_sp_type(sp, i))
    return Vocab("llama", "default", tokens, types, scores, [])


def _sp_type(sp, i: int) -> int:
    for check, kind in ((sp.IsUnknown, UNKNOWN), (sp.IsControl, CONTROL), (sp.IsUnused, UNUSED), (sp.IsByte, BYTE)):
        if check(i):
            return kind
    return NORMAL
