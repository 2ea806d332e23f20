"""`convert --imatrix`: an importance matrix computed on a tiny real model with llama.cpp, stored in
llama.cpp's GGUF imatrix format, passed to llama.cpp's quantizer (which refuses Q2_K_S without one),
recorded in the quantized files and reused by a rerun."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import gguf
import numpy as np
import pytest
from click.testing import CliRunner
from llama_helpers import tokenize
from tiny import CORPUS

from edgeprof.cli import cli

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

CTX, CHUNKS = 64, 4


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "notes.txt"
    path.write_text("\n\n".join(CORPUS * 30), encoding="utf-8")
    return path


def _convert(f16, out, *extra):
    return CliRunner().invoke(cli, ["convert", str(f16), "--out", str(out), "--name", "tiny", "--no-progress",
                                    "--threads", "2", *extra])


@pytest.fixture(scope="module")
def converted(tiny_factory, corpus, tmp_path_factory):
    _, _, f16 = tiny_factory()
    out = tmp_path_factory.mktemp("imatrix-out")
    result = _convert(f16, out, "--quant", "Q2_K_S,Q4_K_M", "--imatrix", str(corpus),
                      "--imatrix-ctx", str(CTX), "--imatrix-chunks", str(CHUNKS))
    assert result.exit_code == 0, result.output
    plain = _convert(f16, out, "--quant", "Q4_K_M")
    assert plain.exit_code == 0, plain.output
    return f16, out


def _fields(path):
    return {k: f.contents() for k, f in gguf.GGUFReader(path).fields.items()}


def test_levels_that_need_a_matrix_are_refused_without_one(tiny_factory, tmp_path):
    _, _, f16 = tiny_factory()
    result = _convert(f16, tmp_path, "--quant", "IQ2_XS")
    assert result.exit_code != 0
    assert "IQ2_XS needs an importance matrix: add --imatrix CORPUS" in result.output
    assert "Traceback" not in result.output


def test_matrix_is_written_in_llama_cpp_gguf_imatrix_format(converted):
    _, out = converted
    matrix = out / "tiny.imatrix-notes.txt.gguf"
    fields = _fields(matrix)
    assert fields["general.type"] == "imatrix" and "general.architecture" not in fields
    assert fields["imatrix.datasets"] == ["notes.txt"]
    assert (fields["imatrix.chunk_count"], fields["imatrix.chunk_size"]) == (CHUNKS, CTX)
    tensors = {t.name: t for t in gguf.GGUFReader(matrix).tensors}
    weights = sorted(n.removesuffix(".in_sum2") for n in tensors if n.endswith(".in_sum2"))
    per_layer = ["attn_k", "attn_output", "attn_q", "attn_v", "ffn_down", "ffn_gate", "ffn_up"]
    assert weights == [f"blk.{i}.{w}.weight" for i in range(2) for w in per_layer]
    for name in weights:
        counts = tensors[name + ".counts"]
        assert counts.tensor_type == gguf.GGMLQuantizationType.F32
        assert float(counts.data.ravel()[0]) == CHUNKS * CTX  # every token of every chunk, once


def test_matrix_holds_the_squared_activations_llama_cpp_feeds_each_weight(converted, corpus):
    """blk.0's attention weights see the normed embeddings: recomputed here with numpy."""
    f16, out = converted
    reader = gguf.GGUFReader(f16)
    source = {t.name: np.asarray(t.data, dtype=np.float32) for t in reader.tensors}
    eps = float(_fields(f16)["llama.attention.layer_norm_rms_epsilon"])
    tokens = tokenize(f16, corpus.read_text(), special=False)[: CHUNKS * CTX]
    x = source["token_embd.weight"][tokens].astype(np.float64)
    x = x / np.sqrt((x * x).mean(axis=1, keepdims=True) + eps) * source["blk.0.attn_norm.weight"]
    expected = (x * x).sum(axis=0)
    sums = {t.name: np.asarray(t.data, dtype=np.float32).ravel()
            for t in gguf.GGUFReader(out / "tiny.imatrix-notes.txt.gguf").tensors}
    got = sums["blk.0.attn_q.weight.in_sum2"]
    assert np.abs(got - expected).max() / expected.max() < 1e-4
    # q, k and v multiply the same activations, summed in the same order: bit-identical
    assert np.array_equal(got, sums["blk.0.attn_k.weight.in_sum2"])
    assert np.array_equal(got, sums["blk.0.attn_v.weight.in_sum2"])


def test_quantized_files_record_the_matrix_as_llama_quantize_does(converted):
    _, out = converted
    for level in ("Q2_K_S", "Q4_K_M"):
        fields = _fields(out / f"tiny-{level}-imatrix.gguf")
        assert fields["quantize.imatrix.file"] == "tiny.imatrix-notes.txt.gguf"
        assert fields["quantize.imatrix.dataset"] == "notes.txt"
        assert fields["quantize.imatrix.entries_count"] == 14
        assert fields["quantize.imatrix.chunks_count"] == CHUNKS
    assert not any(k.startswith("quantize.imatrix") for k in _fields(out / "tiny-Q4_K_M.gguf"))


def test_the_matrix_changes_what_llama_cpp_writes(converted):
    _, out = converted
    with_matrix = {t.name: t.data.tobytes() for t in gguf.GGUFReader(out / "tiny-Q4_K_M-imatrix.gguf").tensors}
    without = {t.name: t.data.tobytes() for t in gguf.GGUFReader(out / "tiny-Q4_K_M.gguf").tensors}
    assert with_matrix.keys() == without.keys()
    assert with_matrix["blk.0.attn_q.weight"] != without["blk.0.attn_q.weight"]
    assert with_matrix["token_embd.weight"] == without["token_embd.weight"]  # no activations: no matrix


def test_rerun_reuses_the_matrix_and_the_levels(converted, corpus):
    f16, out = converted
    matrix = out / "tiny.imatrix-notes.txt.gguf"
    before = matrix.stat().st_mtime_ns
    result = _convert(f16, out, "--quant", "Q2_K_S", "--imatrix", str(corpus),
                      "--imatrix-ctx", str(CTX), "--imatrix-chunks", str(CHUNKS))
    assert result.exit_code == 0, result.output
    assert f"reusing {matrix}" in result.output
    assert "reused" in result.output.splitlines()[-1]
    assert matrix.stat().st_mtime_ns == before


def test_a_task_that_is_not_a_text_corpus_is_refused(tiny_factory, tmp_path):
    _, _, f16 = tiny_factory()
    result = _convert(f16, tmp_path, "--quant", "Q2_K_S", "--imatrix", "hellaswag")
    assert result.exit_code != 0
    assert "--imatrix hellaswag: a choice task, not a text corpus" in result.output


def test_a_corpus_shorter_than_two_chunks_is_refused(tiny_factory, tmp_path):
    _, _, f16 = tiny_factory()
    short = tmp_path / "short.txt"
    short.write_text("only a few words")
    result = _convert(f16, tmp_path / "out", "--quant", "Q2_K_S", "--imatrix", str(short))
    assert result.exit_code != 0
    assert "--imatrix short.txt:" in result.output and "fewer than two chunks of 512" in result.output


@pytest.mark.skipif(not os.environ.get("EDGEPROF_LLAMA_IMATRIX"),
                    reason="set EDGEPROF_LLAMA_IMATRIX to a llama-imatrix built by benchmarks/llama_tools.py "
                           "(tens of minutes on 2 cores)")
def test_matrix_equals_llama_imatrix_own(tiny_factory, corpus, tmp_path):
    from imatrix_vs_llama import compare, edgeprof_imatrix, llama_imatrix

    _, _, f16 = tiny_factory()
    binary = Path(os.environ["EDGEPROF_LLAMA_IMATRIX"])
    edgeprof_imatrix(f16, corpus, tmp_path / "ours.gguf", CTX, CHUNKS, 2)
    llama_imatrix(binary.parent, f16, corpus, tmp_path / "theirs.gguf", CTX, CHUNKS, 2)
    result = compare(tmp_path / "ours.gguf", tmp_path / "theirs.gguf")
    assert result["same_names"] and result["counts_equal"], result
    assert result["bit_equal"], result
