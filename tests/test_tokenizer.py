"""llama.cpp must tokenize converted files exactly as the source tokenizer does."""

from __future__ import annotations

import pytest
from llama_helpers import tokenize
from tiny import TinySpec

TEXTS = [
    "Hello world",
    " leading space and trailing  ",
    "whitespace    runs\t\ttabs\n\n\n  newlines\r\n",
    "café naïve Straße Ελληνικά русский",
    "中文文本也会出现在这里。日本語のテキスト",
    "emoji 🙂🚀👍🏽 and symbols ©®™ ≤≥",
    "def f(x):\n    return x**2  # square\n\tprint(f'{x:08.3f}')",
    "numbers 1234567 3.14159 2026-11-24 0x1F",
    "it's we'll they'd I'M CAN'T",
    "",
]
SPECIAL_TEXTS = ["<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n", "a<|endoftext|>b"]


@pytest.mark.parametrize("style", ["smollm", "llama3", "gpt2"])
def test_bpe_tokenization_matches_source(tiny_factory, style):
    from tokenizers import Tokenizer

    folder, _, f16 = tiny_factory(TinySpec(tokenizer=style, tied=True))
    source = Tokenizer.from_file(str(folder / "tokenizer.json"))
    for text in TEXTS + SPECIAL_TEXTS:
        assert tokenize(f16, text) == source.encode(text, add_special_tokens=False).ids, repr(text)


def test_sentencepiece_tokenization_matches_source(tiny_factory):
    import sentencepiece as spm

    folder, _, f16 = tiny_factory(TinySpec(arch="MistralForCausalLM", tokenizer="spm"))
    source = spm.SentencePieceProcessor(model_file=str(folder / "tokenizer.model"))
    for text in TEXTS[:-1]:
        assert tokenize(f16, text) == source.encode(text), repr(text)


def test_unknown_pre_tokenizer_is_refused(tmp_path):
    import json

    from tiny import train_bpe

    from edgeprof.errors import EdgeprofError
    from edgeprof.quantize.tokenizer import load_vocab

    tok = train_bpe("gpt2")
    tok.save(str(tmp_path / "tokenizer.json"))
    data = json.loads((tmp_path / "tokenizer.json").read_text())
    data["pre_tokenizer"] = {"type": "Whitespace"}
    (tmp_path / "tokenizer.json").write_text(json.dumps(data))
    with pytest.raises(EdgeprofError, match=r"tokenizer.json: tokenizer pre-tokenizer \[Whitespace\]"):
        load_vocab(tmp_path, 1000)


def test_vocab_larger_than_config_is_refused(tmp_path):
    from tiny import train_bpe

    from edgeprof.errors import EdgeprofError
    from edgeprof.quantize.tokenizer import load_vocab

    train_bpe("gpt2").save(str(tmp_path / "tokenizer.json"))
    with pytest.raises(EdgeprofError, match="config.json says vocab_size=10"):
        load_vocab(tmp_path, 10)
