"""The conversion stage on tiny real models: llama.cpp loads what we write and computes what the
source weights compute."""

from __future__ import annotations

import json

import gguf
import numpy as np
import pytest
from llama_helpers import logits
from reference import forward
from tiny import TinySpec

from edgeprof.quantize.architectures import permute_rotary

PROMPT = [5, 17, 42, 99, 123, 7, 300, 64, 211, 12, 45, 88]

ARCH_CASES = {
    "llama": TinySpec(),
    "llama-tied-bf16": TinySpec(tied=True, dtype="BF16"),
    "llama-f32-sharded": TinySpec(dtype="F32", shards=3),
    "mistral": TinySpec(arch="MistralForCausalLM", tokenizer="spm"),
    "qwen2-biases": TinySpec(arch="Qwen2ForCausalLM", tokenizer="llama3"),
    "qwen3-qk-norm": TinySpec(arch="Qwen3ForCausalLM", tokenizer="gpt2", head_dim=128),
    "llama3-rope-scaling": TinySpec(rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                                  "high_freq_factor": 4.0,
                                                  "original_max_position_embeddings": 64}),
}


def _reader(path):
    return gguf.GGUFReader(path)


@pytest.mark.parametrize("case", list(ARCH_CASES))
def test_llama_cpp_logits_match_numpy_reference(tiny_factory, case):
    spec = ARCH_CASES[case]
    folder, weights, f16 = tiny_factory(spec)
    config = json.loads((folder / "config.json").read_text())
    divisors = None
    if spec.rope_scaling:
        divisors = next(t for t in _reader(f16).tensors if t.name == "rope_freqs.weight").data.astype(np.float64)
    expected = forward(weights, config, PROMPT, divisors)
    got = logits(f16, PROMPT)
    scale = np.abs(expected).max()
    assert scale > 0.5  # the test model produces non-trivial logits
    err = np.abs(got - expected).max() / scale
    # llama.cpp rounds activations to the weights' type in CPU matmuls: bf16 keeps 8 mantissa bits.
    tolerance = 2e-2 if spec.dtype == "BF16" else 2e-3
    assert err < tolerance, f"{case}: max relative logit error {err:.2e}"
    assert (got.argmax(-1) == expected.argmax(-1)).mean() >= 0.9


def test_rope_scaling_tensor_changes_the_result(tiny_factory):
    """The llama3 scaling must matter: computing without it gives different logits at long range."""
    spec = ARCH_CASES["llama3-rope-scaling"]
    folder, weights, f16 = tiny_factory(spec)
    config = json.loads((folder / "config.json").read_text())
    divisors = next(t for t in _reader(f16).tensors if t.name == "rope_freqs.weight").data
    assert divisors.min() == pytest.approx(1.0) and divisors.max() == pytest.approx(8.0)
    unscaled = forward(weights, config, PROMPT)
    assert np.abs(logits(f16, PROMPT) - unscaled).max() > 1e-2


@pytest.mark.parametrize("case", ["llama", "llama-tied-bf16", "qwen2-biases"])
def test_converted_tensors_equal_source(tiny_factory, case):
    spec = ARCH_CASES[case]
    folder, weights, f16 = tiny_factory(spec)
    tensors = {t.name: t for t in _reader(f16).tensors}
    want_type = "BF16" if spec.dtype == "BF16" else "F16"
    embd = tensors["token_embd.weight"]
    assert embd.tensor_type.name == want_type
    assert tensors["blk.0.attn_norm.weight"].tensor_type.name == "F32"

    def values(t):
        data = np.asarray(t.data)
        if t.tensor_type.name == "BF16":
            words = data.view(np.uint16)  # gguf-py hands BF16 back as raw bytes
            return (words.astype(np.uint32) << 16).view(np.float32)
        return data.astype(np.float32)

    np.testing.assert_array_equal(values(embd), weights["model.embed_tokens.weight"])
    q = weights["model.layers.1.self_attn.q_proj.weight"]
    expected_q = permute_rotary(q, spec.heads) if spec.arch != "Qwen2ForCausalLM" else q
    np.testing.assert_array_equal(values(tensors["blk.1.attn_q.weight"]), expected_q)
    assert ("output.weight" in tensors) == (not spec.tied)
    if spec.arch == "Qwen2ForCausalLM":
        np.testing.assert_array_equal(tensors["blk.0.attn_k.bias"].data,
                                      weights["model.layers.0.self_attn.k_proj.bias"])


def test_metadata_is_complete(tiny_factory):
    folder, _, f16 = tiny_factory(TinySpec())
    fields = {k: f.contents() for k, f in _reader(f16).fields.items()
              if k not in ("tokenizer.ggml.tokens", "tokenizer.ggml.merges", "tokenizer.ggml.token_type")}
    assert fields["general.architecture"] == "llama"
    assert fields["general.file_type"] == 1
    assert fields["general.quantization_version"] == 2
    assert fields["general.name"] == "ckpt"
    assert fields["general.size_label"]
    assert fields["tokenizer.ggml.pre"] == "smollm"
    assert fields["tokenizer.ggml.eos_token_id"] == 2
    assert fields["tokenizer.chat_template"].startswith("{% for m in messages %}")
    assert fields["llama.vocab_size"] == json.loads((folder / "config.json").read_text())["vocab_size"]
    assert len(fields["edgeprof.source_sha256"]) == 64


def test_f32_outtype_and_explicit_f16_from_bf16(tiny_factory):
    _, _, f32 = tiny_factory(TinySpec(dtype="BF16", tied=True), outtype="f32")
    assert f32.name.endswith("-F32.gguf")
    assert {t.name: t for t in _reader(f32).tensors}["token_embd.weight"].tensor_type.name == "F32"
    _, _, f16 = tiny_factory(TinySpec(dtype="BF16", tied=True), outtype="f16")
    assert {t.name: t for t in _reader(f16).tensors}["token_embd.weight"].tensor_type.name == "F16"
