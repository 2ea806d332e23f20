"""Load modes and cold loads on the real llama.cpp: every llama-bench load mode loads the tiny model
and decodes the same tokens; dropping a file from the page cache really empties it (mincore)."""

from __future__ import annotations

import pytest

from edgeprof.bench.cold_load import cached_fraction, drop_from_page_cache
from edgeprof.bench.engine import LOAD_MODES, Context, ContextSettings, Model
from edgeprof.bench.measure import greedy


@pytest.mark.parametrize("mode", ["none", "mmap", "mmap+mlock", "auto"])
def test_each_load_mode_gives_the_same_model(tiny_levels, mode):
    path = tiny_levels("Q8_0")["Q8_0"]
    outputs = {}
    for each in ("auto", mode):
        with Model(path, load_mode=each) as model, Context(model, ContextSettings(n_ctx=64, n_threads=1)) as ctx:
            ctx.prefill([1, 2, 3, 4], 0)
            outputs[each] = greedy(ctx)
    assert outputs[mode] == outputs["auto"] and mode in LOAD_MODES


def test_dropping_a_file_from_the_page_cache(tmp_path):
    path = tmp_path / "weights.bin"
    path.write_bytes(b"\\1" * (8 << 20))
    path.read_bytes()  # cached now
    before = cached_fraction(path)
    if before is None:
        pytest.skip("mincore cannot be read here")
    assert before > 0.9
    result = drop_from_page_cache(path)
    assert result["cold"] is True
    assert result["cached_fraction_after_drop"] < 0.1 and cached_fraction(path) < 0.1
