"""The roofline figures: bytes a decode step reads, checked against ggml's own tensor sizes, and a
bandwidth probe that measures something real."""

from __future__ import annotations

import math

import pytest

from edgeprof.bench.bandwidth import bytes_per_token, probe_gbs, roofline
from edgeprof.gguf_header import read_gguf_header


def test_bytes_per_token_are_the_weights_one_embedding_row_and_the_kv(tiny_levels):
    from edgeprof import llamacpp

    header = read_gguf_header(tiny_levels("Q8_0")["Q8_0"])
    types = llamacpp.tensor_types()  # ggml's own sizes, not gguf-py's table the code uses
    size = {t.name: t.n_elements // types[t.type_id][0] * types[t.type_id][1] for t in header.tensors}
    embedding = size["token_embd.weight"]
    n_vocab = next(t.shape[1] for t in header.tensors if t.name == "token_embd.weight")
    meta = header.metadata
    kv_row = meta["llama.block_count"] * meta["llama.attention.head_count_kv"] * (
        meta["llama.embedding_length"] // meta["llama.attention.head_count"]) * 2 * 2  # K and V in f16
    expected = sum(size.values()) - embedding + embedding / n_vocab + 100 * kv_row
    assert bytes_per_token(header, 100, "f16", "f16") == pytest.approx(expected)
    row = roofline(header, {"n_depth": 0, "n_prompt": 96, "n_gen": 8}, tg_tps=50.0, bandwidth_gbs=10.0)
    assert row["achieved_gbs"] == pytest.approx(bytes_per_token(header, 100, "f16", "f16") * 50 / 1e9, abs=0.01)
    assert roofline(header, {}, None, 10.0) == {}


def test_the_probe_measures_a_finite_positive_bandwidth():
    gbs = probe_gbs(threads=1, megabytes_per_thread=64, seconds=0.2)
    assert math.isfinite(gbs) and 0.5 < gbs < 2000  # from a slow board's to an HBM GPU host's
