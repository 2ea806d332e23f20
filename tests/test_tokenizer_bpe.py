"""Tokenizers the Llama-2, Gemma and Phi-3 families ship: llama.cpp must split text into the same
tokens as the source tokenizer does."""

from __future__ import annotations

import json

import pytest
from llama_helpers import tokenize
from test_tokenizer import TEXTS
from tiny import GEMMA_TURNS, PHI3_ADDED, TinySpec

MORE_TEXTS = [
    "  two leading spaces, then words",
    "tabs\tand\u3000ideographic space, nbsp\u00a0here",
    "digits 0123456789 9876543210 and 1.5e-10",
    "mixed 中文English日本語 한국어 text",
    "rare characters: 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ∑∫∂ ᚠᛇᚻ ʕ•ᴥ•ʔ",
    "emoji sequences 👩‍👩‍👧‍👦 🏳️‍🌈 👍🏽👍🏿",
    "\n\nnewline first",
    "trailing newline\n",
]
STRINGS = TEXTS[:-1] + MORE_TEXTS


@pytest.mark.parametrize("style", ["llama2-hf", "metaspace"])
def test_byte_fallback_bpe_from_tokenizer_json_matches_source(tiny_factory, style):
    from tokenizers import Tokenizer

    folder, _, f16 = tiny_factory(TinySpec(arch="MistralForCausalLM", tokenizer=style, tied=True))
    assert not (folder / "tokenizer.model").exists()
    source = Tokenizer.from_file(str(folder / "tokenizer.json"))
    fell_back = 0
    # Metaspace puts no "▁" before text that starts with a space; llama.cpp always does (documented)
    for text in [t for t in STRINGS if style == "llama2-hf" or not t.startswith(" ")]:
        want = source.encode(text, add_special_tokens=False).ids
        assert tokenize(f16, text) == want, repr(text)
        fell_back += any(source.id_to_token(i).startswith("<0x") for i in want)
    assert fell_back >= 3  # the strings exercise byte fallback (characters outside the vocabulary)
    # special tokens inside text, then plain text after them (a "▁" is put before it, as the source does)
    for text in ["<s>hello world</s>", "a</s>b"]:
        assert tokenize(f16, text) == source.encode(text, add_special_tokens=False).ids, repr(text)


def test_byte_fallback_bpe_file_metadata(tiny_factory):
    import gguf

    _, _, f16 = tiny_factory(TinySpec(arch="MistralForCausalLM", tokenizer="llama2-hf", tied=True))
    fields = gguf.GGUFReader(f16).fields
    assert fields["tokenizer.ggml.model"].contents() == "llama"
    assert "tokenizer.ggml.merges" not in fields
    tokens = fields["tokenizer.ggml.tokens"].contents()
    types = fields["tokenizer.ggml.token_type"].contents()
    scores = fields["tokenizer.ggml.scores"].contents()
    assert types[tokens.index("<0x41>")] == gguf.TokenType.BYTE
    assert types[tokens.index("<unk>")] == gguf.TokenType.UNKNOWN
    assert types[tokens.index("<s>")] == gguf.TokenType.CONTROL
    merged = [s for t, s, k in zip(tokens, scores, types) if k == gguf.TokenType.NORMAL and len(t) > 1]
    assert len(set(merged)) == len(merged) > 100  # every merged token has its own rank


def test_unsupported_byte_fallback_normalizer_is_refused(tmp_path):
    from tiny import spm_to_tokenizer_json, train_spm

    from edgeprof.errors import EdgeprofError
    from edgeprof.quantize.tokenizer import load_vocab

    train_spm(tmp_path)
    data = spm_to_tokenizer_json(tmp_path / "tokenizer.model", "llama2-hf")
    (tmp_path / "tokenizer.model").unlink()
    data["normalizer"] = {"type": "NFKC"}
    (tmp_path / "tokenizer.json").write_text(json.dumps(data))
    with pytest.raises(EdgeprofError, match=r"tokenizer.json: tokenizer BPE with byte fallback, normalizers \[NFKC\]"):
        load_vocab(tmp_path, 1000)


def test_phi4_mini_gpt4o_pre_tokenizer_matches_source(tiny_factory):
    """Phi-4-mini's tokenizer.json splits text with the o200k (GPT-4o) pattern before byte-level BPE."""
    import gguf
    from tokenizers import Tokenizer

    folder, _, f16 = tiny_factory(TinySpec(arch="Phi3ForCausalLM", tokenizer="gpt4o", kv_heads=4, tied=True))
    assert gguf.GGUFReader(f16).fields["tokenizer.ggml.pre"].contents() == "gpt-4o"
    source = Tokenizer.from_file(str(folder / "tokenizer.json"))
    for text in STRINGS + ["CamelCaseWords and ALLCAPS'S and path/to/file\n", "don't STOP"]:
        assert tokenize(f16, text) == source.encode(text, add_special_tokens=False).ids, repr(text)


def test_gemma_sentencepiece_matches_source(tiny_factory):
    import sentencepiece as spm

    folder, _, f16 = tiny_factory(TinySpec(arch="Gemma3ForCausalLM", tokenizer="gemma-spm", tied=True,
                                           head_dim=64, config_extra=GEMMA3_CONFIG))
    source = spm.SentencePieceProcessor(model_file=str(folder / "tokenizer.model"))
    assert source.encode_as_pieces("a b")[0] == "a"  # Gemma's model adds no leading space
    for text in STRINGS:
        assert tokenize(f16, text, special=False) == source.encode(text), repr(text)
    # the turn markers are single control tokens, recognised in chat text
    turn = "<start_of_turn>user\nHi<end_of_turn>\n"
    ids = tokenize(f16, turn)
    assert ids[0] == source.piece_to_id(GEMMA_TURNS[0]) and source.piece_to_id(GEMMA_TURNS[1]) in ids
    assert ids[1:] == source.encode("user\nHi") + [source.piece_to_id(GEMMA_TURNS[1])] + source.encode("\n")


def test_phi3_added_tokens_are_single_tokens(tiny_factory):
    import gguf
    import sentencepiece as spm

    folder, _, f16 = tiny_factory(TinySpec(arch="Phi3ForCausalLM", tokenizer="phi3-spm", tied=True))
    source = spm.SentencePieceProcessor(model_file=str(folder / "tokenizer.model"))
    for text in STRINGS:
        assert tokenize(f16, text, special=False) == source.encode(text), repr(text)
    fields = gguf.GGUFReader(f16).fields
    tokens = fields["tokenizer.ggml.tokens"].contents()
    types = fields["tokenizer.ggml.token_type"].contents()
    n = source.vocab_size()
    for i, (text, _) in enumerate(PHI3_ADDED):
        assert tokens[n + i] == text and types[n + i] == gguf.TokenType.CONTROL  # special, or looks it
        assert tokenize(f16, f"{text}hi") == [n + i] + source.encode("hi")  # llama.cpp adds the "▁" as Llama does


GEMMA3_CONFIG = {"sliding_window": 4, "sliding_window_pattern": 2, "query_pre_attn_scalar": 64,
                 "rope_local_base_freq": 10000.0, "rope_theta": 1000000.0, "final_logit_softcapping": None,
                 "attn_logit_softcapping": None, "hidden_activation": "gelu_pytorch_tanh"}


def test_unreadable_sentencepiece_model_is_one_clear_error(tmp_path):
    from edgeprof.errors import EdgeprofError
    from edgeprof.quantize.tokenizer import load_vocab

    (tmp_path / "tokenizer.model").write_bytes(b"\x0a\xff\xff\xff\xff\x0f not a model")
    with pytest.raises(EdgeprofError, match=r"tokenizer.model: tokenizer \(unreadable: truncated"):
        load_vocab(tmp_path, 1000)
