"""Tokenizers -> the vocabulary llama.cpp reads: BPE from tokenizer.json, SentencePiece from tokenizer.model.

llama.cpp does not run the Hugging Face pre-tokenizer; it re-implements a fixed set of them and
picks one by the ``tokenizer.ggml.pre`` name. ``PRE_TOKENIZERS`` maps the pre-tokenizer found in
tokenizer.json to that name; a test checks that llama.cpp then tokenizes like the source.

Three kinds of tokenizer arrive:
- byte-level BPE (GPT-2 style) tokenizer.json: written as llama.cpp's "gpt2" model with its merges;
- SentencePiece tokenizer.model (Llama 2, Mistral, Gemma, Phi-3): llama.cpp's "llama" model with
  the pieces' scores and types; added tokens from tokenizer_config.json / added_tokens.json;
- BPE with byte fallback from tokenizer.json alone (Llama-2-HF style: "▁" for spaces, <0xXX> byte
  tokens): also llama.cpp's "llama" model, which merges the adjacent pair whose token scores highest.
  Each token's score is minus the rank of the first merge that makes it, so llama.cpp applies merges
  in the source's order. (llama.cpp's converter gives every token -1000, which leaves the order to
  chance.) Such files were made from SentencePiece models, whose merges list every pair that forms a
  token; there the two algorithms agree exactly. One difference remains with a Metaspace
  pre-tokenizer: it puts no "▁" before text that already starts with a space (and, with
  prepend_scheme "first", none after a special token), where llama.cpp always does.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
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

_GPT4O_REGEX = (r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+"
                r"(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+"
                r"[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+"
                r"[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+")  # o200k: GPT-4o, Phi-4-mini

# A pre-tokenizer's signature (see ``_signature``) -> llama.cpp's pre-tokenizer name.
PRE_TOKENIZERS: dict[tuple, str] = {
    (("ByteLevel", True),): "gpt-2",
    (("Digits", True), ("ByteLevel", True)): "smollm",
    (("Split", _LLAMA3_REGEX), ("ByteLevel", False)): "llama-bpe",
    (("Split", _QWEN2_REGEX), ("ByteLevel", False)): "qwen2",
    (("Split", _GPT4O_REGEX), ("ByteLevel", False)): "gpt-4o",
}


@dataclass(frozen=True)
class Vocab:
    model: str  # tokenizer.ggml.model: "gpt2" (byte-level BPE) or "llama" (SentencePiece)
    pre: str  # tokenizer.ggml.pre
    tokens: list[str]
    token_types: list[int]
    scores: list[float] | None
    merges: list[str]
    add_space_prefix: bool | None = None  # tokenizer.ggml.add_space_prefix; None: llama.cpp's default


# Added tokens llama.cpp's converter types as control tokens although the source does not mark
# them special: exact texts, then (prefix, suffix) pairs.
LOOKS_SPECIAL = ("<pad>", "<mask>", "<2mass>", "[@BOS@]")
LOOKS_SPECIAL_AFFIXES = (("<|", "|>"), ("<\uff5c", "\uff5c>"), ("<unused", ">"))
SPACE_PIECE = "\u2581"  # SentencePiece's visible space
# Scores of the [PADn] rows beyond the tokenizer (unused ids) and of added tokens, as llama.cpp's
# converter writes them for SentencePiece vocabularies.
PAD_SCORE, ADDED_SCORE = -10000.0, -1000.0
BYTE_TOKEN = re.compile(r"<0x[0-9A-Fa-f]{2}>")


def load_vocab(folder: Path, vocab_size: int) -> Vocab:
    """Read the checkpoint's tokenizer, padded to ``vocab_size`` (config.json) as llama.cpp expects."""
    from edgeprof.quantize.checkpoint import read_json

    for name in TOKENIZER_SIDE_FILES:  # read later by gguf-py's SpecialVocab, which raises bare JSON errors
        if (folder / name).is_file() and not isinstance(read_json(folder / name), dict):
            raise fail("bad_json", path=folder / name, detail="expected a JSON object")
    if (folder / "tokenizer.model").is_file():
        vocab = _sentencepiece(folder, vocab_size)
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
    return replace(
        vocab,
        tokens=vocab.tokens + [f"[PAD{i}]" for i in range(start, vocab_size)],
        token_types=vocab.token_types + [UNUSED] * missing,
        scores=None if vocab.scores is None else vocab.scores + [PAD_SCORE] * missing,
    )


def _bpe(path: Path) -> Vocab:
    from edgeprof.quantize.checkpoint import read_json

    data = read_json(path)
    model = data.get("model", {})
    if model.get("type") == "BPE" and model.get("byte_fallback"):
        return _bpe_byte_fallback(path, data)
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


def _bpe_byte_fallback(path: Path, data: dict[str, Any]) -> Vocab:
    """Llama-2-HF style BPE (spaces as "▁", unknown characters as <0xXX> bytes) -> llama.cpp's
    SentencePiece model, with merge ranks as scores (see the module docstring)."""
    model = data["model"]
    add_prefix = _space_prefix(path, data.get("normalizer"), data.get("pre_tokenizer"))
    by_id: dict[int, str] = {int(i): tok for tok, i in model["vocab"].items()}
    types: dict[int, int] = {i: BYTE for i, tok in by_id.items() if BYTE_TOKEN.fullmatch(tok)}
    for added in data.get("added_tokens") or []:
        by_id[int(added["id"])] = added["content"]
        types[int(added["id"])] = CONTROL if added.get("special") else USER_DEFINED
    if model.get("unk_token") in model["vocab"]:
        types[int(model["vocab"][model["unk_token"]])] = UNKNOWN
    rank: dict[str, int] = {}
    for n, merge in enumerate(model.get("merges", [])):
        left, right = merge.split(" ", 1) if isinstance(merge, str) else merge
        rank.setdefault(left + right, n)
    size = max(by_id) + 1 if by_id else 0
    tokens = [by_id.get(i, f"[PAD{i}]") for i in range(size)]
    token_types = [types.get(i, NORMAL if i in by_id else UNUSED) for i in range(size)]
    scores = [-float(rank[t]) if t in rank else 0.0 for t in tokens]
    return Vocab("llama", "default", tokens, token_types, scores, [], add_prefix)


def _space_prefix(path: Path, normalizer: dict[str, Any] | None, pre: dict[str, Any] | None) -> bool:
    """Whether the tokenizer puts a "▁" before the text, from the two forms Llama-2-HF files take:
    normalizers [Prepend("▁"),] Replace(" ", "▁") and no pre-tokenizer, or a Metaspace pre-tokenizer."""
    steps = (normalizer or {}).get("normalizers") if (normalizer or {}).get("type") == "Sequence" else \
        [normalizer] if normalizer else []
    kinds = [(s.get("type"), s.get("prepend") or s.get("content"), (s.get("pattern") or {}).get("String"))
             for s in steps]
    if pre is None and kinds and kinds[-1] == ("Replace", SPACE_PIECE, " ") and \
            kinds[:-1] in ([], [("Prepend", SPACE_PIECE, None)]):
        return len(kinds) == 2
    if not kinds and (pre or {}).get("type") == "Metaspace" and pre.get("replacement") == SPACE_PIECE:
        scheme = pre.get("prepend_scheme") or ("always" if pre.get("add_prefix_space", True) else "never")
        return scheme != "never"
    described = ", ".join(k for k, _, _ in kinds) or "none"
    raise fail("tokenizer_unsupported", path=path,
               detail=f"BPE with byte fallback, normalizers [{described}] and pre-tokenizer "
                      f"{(pre or {}).get('type')!r} (supported: spaces replaced by '\u2581', by normalizers "
                      f"or a Metaspace pre-tokenizer)")


def _sentencepiece(folder: Path, vocab_size: int) -> Vocab:
    from edgeprof.quantize.spm_proto import read_spm_model

    path = folder / "tokenizer.model"
    try:
        spm = read_spm_model(path.read_bytes())
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise fail("tokenizer_unsupported", path=path, detail=f"(unreadable: {exc})") from None
    tokens, types, scores = list(spm.pieces), list(spm.types), list(spm.scores)
    for token_id, text, kind in _added_tokens(folder):
        if token_id >= vocab_size:
            continue  # llama.cpp's converter drops them too: the model has no row for them
        while len(tokens) <= token_id:
            tokens.append(f"[PAD{len(tokens)}]")
            types.append(UNUSED)
            scores.append(PAD_SCORE)
        tokens[token_id], types[token_id], scores[token_id] = text, kind, ADDED_SCORE
    # llama.cpp adds the dummy-prefix space unless told not to (Gemma's model adds none)
    return Vocab("llama", "default", tokens, types, scores, [], None if spm.add_dummy_prefix else False)


def _added_tokens(folder: Path) -> list[tuple[int, str, int]]:
    """(id, text, type) of the tokens added beside a SentencePiece model, typed as llama.cpp's
    converter types them: added_tokens.json user-defined; tokenizer_config.json's added_tokens_decoder
    control when special (or looking special), else user-defined with "▁" read as a space."""
    from edgeprof.quantize.checkpoint import read_json

    added = []
    if (folder / "added_tokens.json").is_file():
        data = read_json(folder / "added_tokens.json")
        added += [(i, str(text), USER_DEFINED) for text, i in data.items() if isinstance(i, int) and i >= 0]
    config = read_json(folder / "tokenizer_config.json") if (folder / "tokenizer_config.json").is_file() else {}
    decoder = config.get("added_tokens_decoder")
    for token_id, entry in (decoder if isinstance(decoder, dict) else {}).items():
        if not (str(token_id).isdigit() and isinstance(entry, dict) and isinstance(entry.get("content"), str)):
            continue  # not an added token transformers would read either
        text = entry["content"]
        if entry.get("special") or _looks_special(text):
            added.append((int(token_id), text, CONTROL))
        else:
            added.append((int(token_id), text.replace(SPACE_PIECE, " "), USER_DEFINED))
    return added


def _looks_special(text: str) -> bool:
    return text in LOOKS_SPECIAL or any(text.startswith(a) and text.endswith(b) for a, b in LOOKS_SPECIAL_AFFIXES)
