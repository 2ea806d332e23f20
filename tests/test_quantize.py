"""Every level llama.cpp offers: the file reports the requested type, loads and generates."""

from __future__ import annotations

import pytest
from llama_helpers import greedy
from tiny import TinySpec

from edgeprof.gguf_header import read_gguf_header
from edgeprof.levels import name_of_ftype, usable_levels
from edgeprof.quantize.pipeline import ConvertOptions, convert

LEVELS = [name for name in usable_levels() if name != "F32"]


@pytest.fixture(scope="module")
def quantized(tiny_factory, tmp_path_factory):
    folder, _, f16 = tiny_factory(TinySpec(tied=True))
    out = tmp_path_factory.mktemp("levels")
    rows = convert(str(f16), ConvertOptions(levels=tuple(LEVELS), out_dir=out, progress=False, threads=2),
                   say=lambda _: None)
    return {row.level: row for row in rows}


@pytest.mark.parametrize("level", LEVELS)
def test_level_has_its_file_type_loads_and_generates(quantized, level):
    row = quantized[level]
    header = read_gguf_header(row.path)  # gguf-py cannot read the newest types (Q2_0)
    assert name_of_ftype(header.metadata["general.file_type"]) == level
    assert row.bits_per_weight > 0
    generated = greedy(row.path, "Quantization trades", n=6)
    assert len(generated) == 6 and all(0 <= t < 700 for t in generated)


def test_lower_levels_are_smaller(quantized):
    bpw = {level: row.bits_per_weight for level, row in quantized.items()}
    assert bpw["Q8_0"] > bpw["Q6_K"] > bpw["Q4_K_M"] > bpw["Q2_K"]
    assert bpw["F16"] == pytest.approx(16.0, abs=0.5)


def test_progress_follows_llama_cpp_tensor_by_tensor(tiny_factory, tmp_path):
    from edgeprof.quantize.quantizer import quantize_file

    _, _, f16 = tiny_factory(TinySpec(tied=True))
    seen: list[tuple[int, int]] = []
    quantize_file(f16, tmp_path / "q.gguf", "Q4_0", threads=2,
                  on_progress=lambda done, total: seen.append((done, total)))
    total = len(read_gguf_header(f16).tensors)
    assert seen[0] == (1, total) and seen[-1] == (total, total)


def test_failed_quantization_names_llama_cpp_reason(tiny_factory, tmp_path):
    from edgeprof.errors import EdgeprofError
    from edgeprof.quantize.quantizer import quantize_file

    _, _, f16 = tiny_factory(TinySpec(tied=True))
    with pytest.raises(EdgeprofError, match="failed to quantize to IQ2_XXS: .*requires an imatrix"):
        quantize_file(f16, tmp_path / "q.gguf", "IQ2_XXS", threads=2)
