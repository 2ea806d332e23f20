"""Property-based tests of the parsers that read files from the internet (GGUF and safetensors
headers, PyTorch zip checkpoints): whatever the bytes, they return or raise our own one-line error; never another
exception, never a hang (hypothesis deadline), never memory out of proportion to the file."""

from __future__ import annotations

import json
import struct
import tracemalloc
from pathlib import Path

from gguf_bytes import Layout, Tensor, build
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgeprof.errors import EdgeprofError
from edgeprof.gguf_check import check_loadable
from edgeprof.quantize.safetensors_file import read_header

FUZZ = settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])
MEMORY_LIMIT = 32 << 20  # far above what a header of a few KB can need

GGUF_SEED = build(Layout(metadata=(("general.architecture", "llama"), ("tokenizer.ggml.tokens", ["a", "bc", "d"]),
                                   ("llama.block_count", 2)),
                         tensors=(Tensor("a.weight", (32, 2)), Tensor("b.weight", (64,), 1))))
SAFETENSORS_HEADER = {"a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
                      "b": {"dtype": "F16", "shape": [4], "data_offsets": [24, 32]}, "__metadata__": {"format": "pt"}}


def _safetensors(header: object, data: bytes = bytes(32)) -> bytes:
    return _with_header(json.dumps(header).encode(), data)


def _with_header(blob: bytes, data: bytes = b"") -> bytes:
    return struct.pack("<Q", len(blob)) + blob + data


SAFETENSORS_SEED = _safetensors(SAFETENSORS_HEADER)


def mutated(seed: bytes) -> st.SearchStrategy[bytes]:
    """The seed file with bytes overwritten (often with extreme 64-bit values), then maybe truncated."""
    values = st.one_of(st.binary(min_size=1, max_size=8),
                       st.sampled_from([0, 1, 2**31, 2**32 - 1, 2**63, 2**64 - 1]).map(lambda v: struct.pack("<Q", v)))
    edits = st.lists(st.tuples(st.integers(0, len(seed) - 1), values), max_size=6)

    def apply(args):
        (changes, cut) = args
        data = bytearray(seed)
        for at, raw in changes:
            data[at:at + len(raw)] = raw
        return bytes(data[:cut])

    return st.tuples(edits, st.integers(0, len(seed) + 8)).map(apply)


def _parse_bounded(parse, path: Path, data: bytes) -> None:
    path.write_bytes(data)
    tracemalloc.start()
    try:
        parse(path)
    except EdgeprofError:
        pass
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert peak < MEMORY_LIMIT, f"{peak} bytes for a {len(data)}-byte file"


@FUZZ
@given(st.one_of(mutated(GGUF_SEED), st.binary(max_size=256).map(lambda b: b"GGUF\x03\0\0\0" + b)))
def test_gguf_header_parser_never_raises_anything_but_our_error(tmp_path, data):
    _parse_bounded(check_loadable, tmp_path / "fuzz.gguf", data)


json_values = st.recursive(st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.text(max_size=8),
                           lambda inner: (st.lists(inner, max_size=4)
                                          | st.dictionaries(st.text(max_size=6), inner, max_size=4)),
                           max_leaves=20)
entries = st.fixed_dictionaries({"dtype": st.sampled_from(["F32", "F16", "BF16", "I8", "X9", 3]),
                                 "shape": st.lists(st.integers(-2, 2**40), max_size=4) | json_values,
                                 "data_offsets": st.lists(st.integers(-8, 2**64), max_size=3) | json_values})


@FUZZ
@given(st.one_of(mutated(SAFETENSORS_SEED),
                 st.dictionaries(st.text(max_size=6), entries | json_values, max_size=4).map(_safetensors),
                 st.integers(1, 5000).map(lambda depth: _with_header(b"[" * depth + b"]" * depth))))
def test_safetensors_header_parser_never_raises_anything_but_our_error(tmp_path, data):
    _parse_bounded(read_header, tmp_path / "fuzz.safetensors", data)


def test_the_seeds_parse():
    """The mutations start from files the parsers accept, so the fuzzing explores near-valid input."""
    path = Path.cwd() / "seed.gguf"
    path.write_bytes(GGUF_SEED)
    assert len(check_loadable(path).tensors) == 2
    path = Path.cwd() / "seed.safetensors"
    path.write_bytes(SAFETENSORS_SEED)
    assert set(read_header(path)) == {"a", "b"}


def _torch_seed() -> bytes:
    """A two-tensor torch.save zip (written to a temporary folder, read back as bytes)."""
    import tempfile

    import numpy as np
    from torch_zip_writer import write_torch_zip

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "seed.bin"
        write_torch_zip(path, {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.ones(4, dtype=np.float16)})
        return path.read_bytes()


TORCH_SEED = _torch_seed()


@FUZZ
@given(mutated(TORCH_SEED))
def test_torch_zip_reader_never_raises_anything_but_our_error(tmp_path, data):
    from edgeprof.quantize.torch_zip import read_torch_zip

    _parse_bounded(read_torch_zip, tmp_path / "fuzz.bin", data)
