"""Synthetic models (`edgeprof bench --synthetic`): the file has exactly the tensors a real
conversion gives at each level (names, shapes, per-tensor types, order, size), loads and decodes in
llama.cpp, is marked synthetic everywhere, and never gets an accuracy."""

from __future__ import annotations

import json

import gguf
import pytest
from click.testing import CliRunner
from tiny import TinySpec

from edgeprof.cli.main import cli
from edgeprof.quantize import synthetic
from edgeprof.quantize.checkpoint import open_checkpoint
from edgeprof.quantize.pipeline import ConvertOptions, convert
from edgeprof.quantize.shapes import tensor_shapes

LEVELS = ("Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q4_0", "Q3_K_M", "Q2_K")


def tensors_of(path) -> list[tuple]:
    return [(t.name, tuple(int(x) for x in t.shape), t.tensor_type.name) for t in gguf.GGUFReader(path).tensors]


def data_bytes(path) -> int:
    return sum(int(t.n_bytes) for t in gguf.GGUFReader(path).tensors)


@pytest.mark.parametrize("spec", [TinySpec(tied=True),
                                  TinySpec(arch="Qwen2ForCausalLM", hidden=192, heads=3, kv_heads=1),
                                  TinySpec(layers=3, hidden=320, ffn=640, tied=False)],
                         ids=["llama-tied", "qwen2-width192", "llama-width320"])
def test_synthetic_file_has_the_real_conversions_tensors(tmp_path, spec):
    from tiny import build_checkpoint

    build_checkpoint(tmp_path / "ckpt", spec)
    real = {r.level: r.path for r in convert(str(tmp_path / "ckpt"), ConvertOptions(
        levels=LEVELS, out_dir=tmp_path / "real", progress=False, threads=2), say=lambda _: None)}
    built = synthetic.build(synthetic.find_shape(str(tmp_path / "ckpt")), list(LEVELS), out_dir=tmp_path / "syn")
    for level, path in zip(LEVELS, built):
        assert tensors_of(path) == tensors_of(real[level]), level  # names, shapes, types, order
        assert data_bytes(path) == data_bytes(real[level]), level
        assert synthetic.describe(path) == {"synthetic": True, "source": str(tmp_path / "ckpt")}
    skeleton = next((tmp_path / "syn").glob("*/skeleton-F16.gguf"))
    assert skeleton.stat().st_blocks * 512 < skeleton.stat().st_size  # the F16 skeleton is holes on disk


def block_scale_log2(path, qtype: str = "Q8_0") -> dict:
    """Tensor name -> log2 of each block's fp16 scale, for tensors of type ``qtype`` (Q8_0 blocks:
    the scale, then 32 int8)."""
    import numpy as np

    return {t.name: np.log2(np.asarray(t.data).reshape(-1, 34)[:, :2].copy().view(np.float16)
                            .astype(np.float64).ravel())
            for t in gguf.GGUFReader(path).tensors if t.tensor_type.name == qtype}


def test_synthetic_block_scales_spread_like_trained_weights(tmp_path):
    """x86 ggml converts each block's fp16 scale through a lookup table, so the spread of the scales
    moves decode speed (benchmarks/scale_lookup.py). Gaussian blocks have a log2 spread of 0.27 and
    none between tensors; the synthetic ones must have the trained model's, role by role."""
    import numpy as np
    from tiny import build_checkpoint

    from edgeprof.quantize.blocks import SCALE_SPREAD

    build_checkpoint(tmp_path / "ckpt", TinySpec(layers=4, hidden=256, ffn=512))
    (path,) = synthetic.build(synthetic.find_shape(str(tmp_path / "ckpt")), ["Q8_0"], out_dir=tmp_path / "syn")
    logs = block_scale_log2(path)
    assert len(logs) >= 28
    for role in ("token_embd", "attn_q", "attn_k", "attn_output", "ffn_up", "ffn_down"):
        spreads = [v.std() for name, v in logs.items() if f"{role}.weight" in name]
        assert spreads and abs(np.mean(spreads) - SCALE_SPREAD[role]) < 0.05, (role, spreads)
    between = np.std([np.median(v) for v in logs.values()])
    assert 0.10 < between < 0.40, between


def test_synthetic_bench_loads_decodes_and_is_marked(tiny_factory, tmp_path):
    checkpoint, _, _ = tiny_factory(TinySpec(tied=True))
    args = ["bench", "--synthetic", str(checkpoint), "--quant", "Q4_K_M,Q8_0", "-p", "16", "-n", "8", "-r", "1",
            "-t", "2", "--results", str(tmp_path / "r"), "--no-progress", "--output", "json"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (tmp_path / "r" / "bench.jsonl").read_text().splitlines()]
    assert [r["status"] for r in rows] == ["ok", "ok"]
    assert all(r["model"]["synthetic"] and r["metrics"]["tokens_generated_mean"] == 8 for r in rows)
    assert {r["model"]["level"] for r in rows} == {"Q4_K_M", "Q8_0"}
    again = CliRunner().invoke(cli, args)
    assert again.output.count("reusing") == 2  # cached files, not rebuilt
    refused = CliRunner().invoke(cli, ["bench", "--synthetic", str(checkpoint), "--quant", "Q4_K_M", "--no-speed",
                                       "--tasks", "hellaswag"])
    assert refused.exit_code == 1 and "a synthetic model (random weights) has no accuracy to measure" in refused.output


# Parameter counts the model cards publish (embedding counted once when tied).
PUBLISHED = {"SmolLM2-135M": 134.5e6, "SmolLM2-360M": 361.8e6, "SmolLM2-1.7B": 1.711e9, "Llama-3.2-1B": 1.236e9,
             "Llama-3.2-3B": 3.213e9, "Llama-3.1-8B": 8.030e9, "Qwen2.5-0.5B": 0.494e9, "Qwen2.5-1.5B": 1.544e9,
             "Qwen2.5-3B": 3.086e9, "Qwen2.5-7B": 7.616e9}


def test_builtin_shapes_match_the_published_sizes():
    assert set(synthetic.shape_names()) == set(PUBLISHED)
    for name, published in PUBLISHED.items():
        shape = synthetic.find_shape(name)
        shapes = tensor_shapes(open_checkpoint(shape.folder, weights=False))
        n = sum(int(a) * (int(b) if len(s) > 1 else 1) for s in shapes.values() for a, b in [(s[0], s[-1])])
        assert abs(n / published - 1) < 0.01, (name, n)


def test_synthetic_needs_levels_and_a_known_source(tmp_path):
    result = CliRunner().invoke(cli, ["bench", "--synthetic", "SmolLM2-135M"])
    assert result.exit_code == 2 and "--synthetic SOURCE and --quant LEVELS go together" in result.output
    result = CliRunner().invoke(cli, ["bench", "--synthetic", "not-a-shape", "--quant", "Q4_K_M"])
    assert result.exit_code == 1 and result.output.startswith("Error: not-a-shape: not a built-in shape")


def test_a_level_that_does_not_fit_is_refused_and_the_others_run(tiny_levels, tmp_path, monkeypatch):
    """The what-if answer per level: with free RAM between the two files' estimates, the smaller one
    is measured and the larger one recorded as refused by the memory guard, with the numbers."""
    from edgeprof.bench import memory
    from edgeprof.gguf_header import read_gguf_header

    files = tiny_levels("Q4_0")
    need = {level: memory.estimate(read_gguf_header(path), 256, 512, 0, "f16", "f16", None).ram_mb
            for level, path in files.items()}
    assert need["F16"] > need["Q4_0"]
    monkeypatch.setattr(memory, "available", lambda: ((need["F16"] + need["Q4_0"]) / 2, None))
    args = ["bench", str(files["F16"]), str(files["Q4_0"]), "-p", "16", "-n", "4", "-r", "1", "-t", "2",
            "--ctx", "256", "--results", str(tmp_path / "r"), "--no-progress"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    rows = {json.loads(line)["model"]["level"]: json.loads(line) for line in
            (tmp_path / "r" / "bench.jsonl").read_text().splitlines()}
    assert rows["Q4_0"]["status"] == "ok" and rows["F16"]["status"] == "failed"
    assert f"needs about {need['F16']:.0f} MB of RAM" in rows["F16"]["error"]
    assert f"failed: {rows['F16']['error']}" in result.output
    monkeypatch.setattr(memory, "available", lambda: (need["Q4_0"] / 2, None))
    refused = CliRunner().invoke(cli, args[:2] + args[3:] + ["--rerun"])
    assert refused.exit_code == 1 and "Error: all 1 cells failed" in refused.output


def test_a_hub_repo_id_needs_only_its_config_and_tokenizer(tiny_factory, tmp_path, monkeypatch):
    """SOURCE as a hub repo id: resolved through huggingface_hub (offline here, from a cache that holds
    the config and tokenizer but no weights), and the file equals the one built from the folder."""
    from hub_cache import hub_cache_with

    from edgeprof.hub import CONFIG_FILES

    checkpoint, _, _ = tiny_factory(TinySpec(tied=True))
    kept = [p for p in checkpoint.iterdir() if p.name in CONFIG_FILES]
    assert any(p.name == "tokenizer.json" for p in kept) and not any(p.suffix == ".safetensors" for p in kept)
    hub_cache_with("tiny-org/tiny-llama", kept, tmp_path / "hf-home" / "hub", monkeypatch)
    source = synthetic.find_shape("tiny-org/tiny-llama")
    (from_hub,) = synthetic.build(source, ["Q4_K_M"], out_dir=tmp_path / "hub")
    (from_folder,) = synthetic.build(synthetic.find_shape(str(checkpoint)), ["Q4_K_M"], out_dir=tmp_path / "folder")
    assert tensors_of(from_hub) == tensors_of(from_folder)
    assert synthetic.describe(from_hub) == {"synthetic": True, "source": "tiny-org/tiny-llama"}
    tokens = gguf.GGUFReader(from_hub).fields["tokenizer.ggml.tokens"]
    assert len(tokens.data) == len(gguf.GGUFReader(from_folder).fields["tokenizer.ggml.tokens"].data)
    missing = CliRunner().invoke(cli, ["bench", "--synthetic", "tiny-org/not-cached", "--quant", "Q4_K_M"])
    assert (missing.exit_code == 1 and "tiny-org/not-cached" in missing.output
            and "not in the local hub cache" in missing.output)
