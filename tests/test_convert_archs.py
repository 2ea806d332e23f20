"""Gemma 2, Gemma 3, Phi-3 and SmolLM3 on tiny real models: llama.cpp loads what we write and computes
what the published model math computes from the source weights (an independent numpy forward pass
below: soft-capping, sliding windows, Gemma's norms and embedding scale, fused projections,
long-context rope, rope-less layers)."""

from __future__ import annotations

import json

import gguf
import numpy as np
import pytest
from llama_helpers import load
from tiny import TinySpec

PROMPT = [5, 17, 42, 99, 123, 7, 300, 64, 211, 12, 45, 88]

GEMMA3 = {"sliding_window": 4, "sliding_window_pattern": 2, "query_pre_attn_scalar": 64,
          "rope_local_base_freq": 10000.0, "rope_theta": 1000000.0, "final_logit_softcapping": None,
          "attn_logit_softcapping": None, "hidden_activation": "gelu_pytorch_tanh"}
GEMMA2 = {"sliding_window": 4, "query_pre_attn_scalar": 64, "attn_logit_softcapping": 1.5,
          "final_logit_softcapping": 3.0, "hidden_activation": "gelu_pytorch_tanh"}
LONGROPE = {"rope_type": "longrope", "long_factor": [1.0 + 0.25 * i for i in range(16)],
            "short_factor": [1.0 + 0.05 * i for i in range(16)]}
PHI3_LONG = {"original_max_position_embeddings": 256, "max_position_embeddings": 1024,
             "partial_rotary_factor": 0.5, "rope_scaling": LONGROPE, "sliding_window": 262144}

CASES = {
    "gemma3": TinySpec(arch="Gemma3ForCausalLM", tokenizer="gemma-spm", tied=True, config_extra=GEMMA3),
    "gemma3-layer-types-softcap-linear-rope": TinySpec(
        arch="Gemma3ForCausalLM", tokenizer="gemma-spm", tied=True, layers=3, dtype="BF16",
        config_extra={**GEMMA3, "sliding_window_pattern": None, "final_logit_softcapping": 2.5,
                      "layer_types": ["sliding_attention", "full_attention", "sliding_attention"],
                      "rope_scaling": {"rope_type": "linear", "factor": 8.0}}),
    "gemma2": TinySpec(arch="Gemma2ForCausalLM", tokenizer="gemma-spm", tied=True, config_extra=GEMMA2),
    "phi3": TinySpec(arch="Phi3ForCausalLM", tokenizer="phi3-spm", kv_heads=4,
                     config_extra={"original_max_position_embeddings": 512, "sliding_window": 2047}),
    "phi3-longrope-partial": TinySpec(arch="Phi3ForCausalLM", tokenizer="phi3-spm", kv_heads=4, tied=True,
                                      config_extra=PHI3_LONG),
    "smollm3": TinySpec(arch="SmolLM3ForCausalLM", tokenizer="llama3", tied=True, layers=4,
                        config_extra={"no_rope_layers": [1, 1, 1, 0], "no_rope_layer_interval": 4,
                                      "rope_theta": 5000000.0}),
}


# ---- the reference: HF semantics in float64 ---------------------------------------------------

def _rms(x, w, eps, gemma):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * ((1.0 + w) if gemma else w)


def _gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))


def _silu(x):
    return x / (1 + np.exp(-x))


def _rope(x, pos, inv_freq, scale=1.0):
    """Rotate-half rope on the first 2*len(inv_freq) dims of each head; the rest passes through."""
    rd = 2 * len(inv_freq)
    angles = pos[:, None] * inv_freq[None, :]
    cos = (np.concatenate([np.cos(angles)] * 2, axis=-1) * scale)[:, None, :]
    sin = (np.concatenate([np.sin(angles)] * 2, axis=-1) * scale)[:, None, :]
    rot, rest = x[..., :rd], x[..., rd:]
    half = rd // 2
    rotated = np.concatenate([-rot[..., half:], rot[..., :half]], axis=-1)
    return np.concatenate([rot * cos + rotated * sin, rest], axis=-1)


def _sliding(config, arch, n_layers):
    if not config.get("sliding_window") or arch == "phi3":
        return [False] * n_layers
    if config.get("layer_types"):
        return [t == "sliding_attention" for t in config["layer_types"]]
    period = config.get("sliding_window_pattern") or (2 if arch == "gemma2" else 6)
    return [(i + 1) % period != 0 for i in range(n_layers)]


def forward(weights, config, tokens, n_ctx=256):
    w = {k: v.astype(np.float64) for k, v in weights.items()}
    arch = config["model_type"]
    gemma = arch.startswith("gemma")
    n, hidden = len(tokens), config["hidden_size"]
    n_head, n_kv = config["num_attention_heads"], config["num_key_value_heads"]
    head_dim = config.get("head_dim") or hidden // n_head
    eps = config["rms_norm_eps"]
    rd = int((config.get("partial_rotary_factor") or 1.0) * head_dim)
    pos = np.arange(n, dtype=np.float64)
    sliding = _sliding(config, arch, config["num_hidden_layers"])
    scaling = config.get("rope_scaling") or {}
    h = w["model.embed_tokens.weight"][tokens] * (np.sqrt(hidden) if gemma else 1.0)
    for i in range(config["num_hidden_layers"]):
        p = f"model.layers.{i}."
        x = _rms(h, w[p + "input_layernorm.weight"], eps, gemma)
        if arch == "phi3":
            q, k, v = np.split(x @ w[p + "self_attn.qkv_proj.weight"].T,
                               [n_head * head_dim, (n_head + n_kv) * head_dim], axis=-1)
        else:
            q, k, v = (x @ w[p + f"self_attn.{m}_proj.weight"].T for m in "qkv")
        q, k, v = (t.reshape(n, -1, head_dim) for t in (q, k, v))
        if p + "self_attn.q_norm.weight" in w:
            q = _rms(q, w[p + "self_attn.q_norm.weight"], eps, gemma)
            k = _rms(k, w[p + "self_attn.k_norm.weight"], eps, gemma)
        theta = config.get("rope_local_base_freq", 10000.0) if sliding[i] and arch == "gemma3" \
            else config["rope_theta"]
        inv_freq = 1.0 / theta ** (np.arange(0, rd, 2) / rd)
        cos_scale = 1.0
        if scaling.get("rope_type") == "linear" and not sliding[i]:
            inv_freq = inv_freq / scaling["factor"]
        if scaling.get("rope_type") == "longrope":
            original = config["original_max_position_embeddings"]
            long = n_ctx > original  # llama.cpp picks the factors by context size
            inv_freq = inv_freq / np.array(scaling["long_factor" if long else "short_factor"])
            s = config["max_position_embeddings"] / original
            cos_scale = np.sqrt(1 + np.log(s) / np.log(original))
        if not (arch == "smollm3" and not config["no_rope_layers"][i]):
            q, k = _rope(q, pos, inv_freq, cos_scale), _rope(k, pos, inv_freq, cos_scale)
        k, v = np.repeat(k, n_head // n_kv, axis=1), np.repeat(v, n_head // n_kv, axis=1)
        scale = config["query_pre_attn_scalar"] ** -0.5 if gemma else head_dim ** -0.5
        scores = np.einsum("qhd,khd->hqk", q, k) * scale
        if config.get("attn_logit_softcapping"):
            cap = config["attn_logit_softcapping"]
            scores = np.tanh(scores / cap) * cap
        qi, ki = np.arange(n)[:, None], np.arange(n)[None, :]
        masked = (ki > qi) | ((qi - ki >= config["sliding_window"]) if sliding[i] else False)
        scores = np.where(masked, -np.inf, scores)
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        scores /= scores.sum(-1, keepdims=True)
        attn = np.einsum("hqk,khd->qhd", scores, v).reshape(n, n_head * head_dim) @ w[p + "self_attn.o_proj.weight"].T
        if gemma:
            h = h + _rms(attn, w[p + "post_attention_layernorm.weight"], eps, gemma)
            x = _rms(h, w[p + "pre_feedforward_layernorm.weight"], eps, gemma)
        else:
            h = h + attn
            x = _rms(h, w[p + "post_attention_layernorm.weight"], eps, gemma)
        if arch == "phi3":
            gate, up = np.split(x @ w[p + "mlp.gate_up_proj.weight"].T, 2, axis=-1)
        else:
            gate, up = x @ w[p + "mlp.gate_proj.weight"].T, x @ w[p + "mlp.up_proj.weight"].T
        mlp = ((_gelu_tanh(gate) if gemma else _silu(gate)) * up) @ w[p + "mlp.down_proj.weight"].T
        h = h + (_rms(mlp, w[p + "post_feedforward_layernorm.weight"], eps, gemma) if gemma else mlp)
    h = _rms(h, w["model.norm.weight"], eps, gemma)
    logits = h @ w.get("lm_head.weight", w["model.embed_tokens.weight"]).T
    if config.get("final_logit_softcapping"):
        cap = config["final_logit_softcapping"]
        logits = np.tanh(logits / cap) * cap
    return logits


def llama_logits(path, tokens, n_ctx=256):
    llm = load(path, n_ctx=n_ctx)
    llm.eval(tokens)
    out = np.array(llm.scores[: len(tokens)], dtype=np.float64)
    llm.close()
    return out


def _error(got, expected):
    scale = np.abs(expected).max()
    assert scale > 0.5  # non-trivial logits
    return np.abs(got - expected).max() / scale


def _differs(got, other):
    return np.abs(got - other).max() / np.abs(got).max() > 2e-2


def _config(folder):
    return json.loads((folder / "config.json").read_text())


# ---- tests --------------------------------------------------------------------------------------

@pytest.mark.parametrize("case", list(CASES))
def test_llama_cpp_logits_match_numpy_reference(tiny_factory, case):
    spec = CASES[case]
    folder, weights, f16 = tiny_factory(spec)
    expected = forward(weights, _config(folder), PROMPT)
    got = llama_logits(f16, PROMPT)
    tolerance = 2e-2 if spec.dtype == "BF16" else 3e-3
    err = _error(got, expected)
    assert err < tolerance, f"{case}: max relative logit error {err:.2e}"
    assert (got.argmax(-1) == expected.argmax(-1)).mean() >= 0.9


def test_each_model_feature_changes_the_result(tiny_factory):
    """The reference must be sensitive to what the converter writes: dropping any feature from the
    reference moves it away from llama.cpp's logits (so the match above is not luck)."""
    checks = {
        "gemma3": [("sliding_window", 10_000), ("rope_local_base_freq", 1000000.0)],
        "gemma2": [("attn_logit_softcapping", None), ("final_logit_softcapping", None), ("sliding_window", 10_000)],
        "phi3-longrope-partial": [("partial_rotary_factor", 1.0)],
        "smollm3": [("no_rope_layers", [1, 1, 1, 1])],
    }
    for case, changes in checks.items():
        folder, weights, f16 = tiny_factory(CASES[case])
        got = llama_logits(f16, PROMPT)
        for key, value in changes:
            if key == "partial_rotary_factor":  # needs factors of the other length
                config = {**_config(folder), "rope_scaling": None}
            else:
                config = {**_config(folder), key: value}
            assert _differs(got, forward(weights, config, PROMPT)), (case, key)
    # Gemma's (1 + w) norms: what llama.cpp would compute had the converter written w itself
    folder, weights, f16 = tiny_factory(CASES["gemma3"])
    unshifted = {k: v - 1.0 if k.endswith("norm.weight") else v for k, v in weights.items()}
    assert _differs(llama_logits(f16, PROMPT), forward(unshifted, _config(folder), PROMPT))


def test_phi3_long_and_short_rope_factors(tiny_factory):
    folder, weights, f16 = tiny_factory(CASES["phi3-longrope-partial"])
    tensors = {t.name: t for t in gguf.GGUFReader(f16).tensors}
    np.testing.assert_array_equal(tensors["rope_factors_long.weight"].data, np.float32(LONGROPE["long_factor"]))
    np.testing.assert_array_equal(tensors["rope_factors_short.weight"].data, np.float32(LONGROPE["short_factor"]))
    assert tensors["blk.0.attn_qkv.weight"].shape.tolist() == [256, 256 + 2 * 4 * 64]
    assert tensors["blk.0.ffn_up.weight"].shape.tolist() == [256, 2 * 512]
    config = _config(folder)
    # llama.cpp picks the factors by context size: short within the original context, long beyond
    short, long = llama_logits(f16, PROMPT, n_ctx=256), llama_logits(f16, PROMPT, n_ctx=512)
    assert _error(short, forward(weights, config, PROMPT, n_ctx=256)) < 3e-3
    assert _error(long, forward(weights, config, PROMPT, n_ctx=512)) < 3e-3
    assert _differs(short, long)
    fields = gguf.GGUFReader(f16).fields
    assert fields["phi3.rope.scaling.type"].contents() == "longrope"
    assert fields["phi3.rope.dimension_count"].contents() == 32
    assert fields["phi3.rope.scaling.original_context_length"].contents() == 256
    assert fields["phi3.rope.scaling.attn_factor"].contents() == pytest.approx(np.sqrt(1 + np.log(4) / np.log(256)))


def test_gemma_files_hold_one_plus_w_norms_and_their_hparams(tiny_factory):
    _, weights, f16 = tiny_factory(CASES["gemma3"])
    reader = gguf.GGUFReader(f16)
    tensors = {t.name: t for t in reader.tensors}
    for hf, name in [("model.layers.0.input_layernorm.weight", "blk.0.attn_norm.weight"),
                     ("model.layers.1.post_feedforward_layernorm.weight", "blk.1.post_ffw_norm.weight"),
                     ("model.layers.0.self_attn.k_norm.weight", "blk.0.attn_k_norm.weight"),
                     ("model.norm.weight", "output_norm.weight")]:
        np.testing.assert_array_equal(tensors[name].data, weights[hf] + np.float32(1.0))
    assert "output.weight" not in tensors  # tied: llama.cpp reuses token_embd
    fields = {k: f.contents() for k, f in reader.fields.items() if not k.startswith("tokenizer.ggml.")}
    assert fields["general.architecture"] == "gemma3"
    assert fields["gemma3.attention.sliding_window"] == 4
    assert fields["gemma3.attention.sliding_window_pattern"] == [True, False]
    assert fields["gemma3.rope.freq_base"] == 1000000.0 and fields["gemma3.rope.freq_base_swa"] == 10000.0
    assert "gemma3.final_logit_softcapping" not in fields
    g2 = {k: f.contents() for k, f in gguf.GGUFReader(tiny_factory(CASES["gemma2"])[2]).fields.items()
          if k.startswith("gemma2.")}
    assert g2["gemma2.attn_logit_softcapping"] == 1.5 and g2["gemma2.final_logit_softcapping"] == 3.0
    assert "gemma2.attention.sliding_window_pattern" not in g2  # the default every-other-layer pattern


def test_settings_llama_cpp_cannot_compute_are_refused(tmp_path):
    from tiny import build_checkpoint

    from edgeprof.errors import EdgeprofError
    from edgeprof.quantize.checkpoint import open_checkpoint

    folder = tmp_path / "smol"
    build_checkpoint(folder, TinySpec(arch="SmolLM3ForCausalLM", tokenizer="gpt2", layers=4, tied=True,
                                      config_extra={"no_rope_layers": [1, 0, 1, 1]}))
    with pytest.raises(EdgeprofError, match=r"config.json: no_rope_layers=\[1, 0, 1, 1\] is not supported for "
                                            r"SmolLM3ForCausalLM: llama.cpp skips rope on every 4th layer"):
        open_checkpoint(folder)
    folder = tmp_path / "gemma"
    build_checkpoint(folder, TinySpec(arch="Gemma2ForCausalLM", tokenizer="gpt2", tied=True,
                                      config_extra={**GEMMA2, "query_pre_attn_scalar": 100}))
    with pytest.raises(EdgeprofError, match=r"query_pre_attn_scalar=100 .* 1/sqrt\(64\)"):
        open_checkpoint(folder)
    folder = tmp_path / "phi"
    build_checkpoint(folder, TinySpec(arch="Phi3ForCausalLM", tokenizer="gpt2", kv_heads=4, tied=True,
                                      config_extra={**PHI3_LONG, "partial_rotary_factor": 1.0}))
    from edgeprof.quantize.writer import plan_tensors

    with pytest.raises(EdgeprofError, match=r"rope_scaling long_factor has 16 values; .* needs 32"):
        plan_tensors(open_checkpoint(folder), "F16")


def test_transformers5_rope_parameters_are_read(tmp_path):
    from tiny import build_checkpoint

    from edgeprof.quantize.checkpoint import open_checkpoint

    rope = {"full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1000000.0},
            "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}}
    extra = {k: v for k, v in GEMMA3.items() if k not in ("rope_theta", "rope_local_base_freq")}
    build_checkpoint(tmp_path, TinySpec(arch="Gemma3ForCausalLM", tokenizer="gpt2", tied=True,
                                        config_extra={**extra, "rope_parameters": rope}))
    config = json.loads((tmp_path / "config.json").read_text())
    config.pop("rope_theta")
    (tmp_path / "config.json").write_text(json.dumps(config))
    read = open_checkpoint(tmp_path, weights=False).config
    assert read["rope_theta"] == 1000000.0 and read["rope_local_base_freq"] == 10000.0
    assert read["rope_scaling"] == rope["full_attention"]
