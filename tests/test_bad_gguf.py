"""Malformed GGUF files: each is refused before llama.cpp sees it, with one line naming the file and
the problem, exit code 1, no traceback and nothing written; files that pass the checks load (or are
refused by llama.cpp itself) without killing the process."""

from __future__ import annotations

import struct

import pytest
from click.testing import CliRunner
from gguf_bytes import F16, Q8_0, Layout, Tensor, build

from edgeprof.cli.main import cli
from edgeprof.errors import EdgeprofError
from edgeprof.gguf_check import check_loadable

ARCH = ("general.architecture", "llama")
GOOD = build()


def _long_key(data: bytes) -> bytes:
    """The first metadata key's length field says 2**62 bytes."""
    return data[:24] + struct.pack("<Q", 1 << 62) + data[32:]


BAD = {
    "wrong magic": (b"GGUX" + GOOD[4:], "not a readable GGUF file: wrong magic"),
    "truncated header": (GOOD[:60], "truncated header"),
    "truncated tensor data": (GOOD[:-10], "truncated tensor data"),
    "absurd tensor count": (build(Layout(n_tensors=1 << 60)), "more than the file can hold"),
    "absurd key count": (build(Layout(n_kv=1 << 61)), "more than the file can hold"),
    "absurd string length": (_long_key(GOOD), "truncated header"),
    "unsupported version": (build(Layout(version=99)), "unsupported GGUF version 99"),
    "vocabulary only": (build(Layout(metadata=(ARCH, ("tokenizer.ggml.tokens", ["a", "b"])), tensors=())),
                        "a GGUF file but not a model: it has no tensors"),
    "no architecture": (build(Layout(metadata=())), "names no general.architecture"),
    "unknown type id": (build(Layout(tensors=(Tensor("a.weight", (32,), 200),))),
                        "tensor 'a.weight' has type id 200, which this llama.cpp build"),
    "retired type id": (build(Layout(tensors=(Tensor("a.weight", (32,), 4),))), "has type id 4"),
    "overlapping tensors": (build(Layout(tensors=(Tensor("a.weight", (32, 2)), Tensor("b.weight", (64,), F16, 0)))),
                            "tensors 'b.weight' and 'a.weight' overlap"),
    "tensor past the end": (build(Layout(tensors=(Tensor("a.weight", (32,), offset=1 << 40),))),
                            "starts past the end of the file"),
    "misaligned tensor": (build(Layout(tensors=(Tensor("a.weight", (32,), offset=4),))), "not aligned to 32 bytes"),
    "zero dimension": (build(Layout(tensors=(Tensor("a.weight", (32, 0)),))), "impossible shape [32, 0]"),
    "row not whole blocks": (build(Layout(tensors=(Tensor("a.weight", (16, 2), Q8_0),))),
                             "row length 16 is not a multiple of its type's block (32)"),
    "bad alignment": (build(Layout(metadata=(ARCH, ("general.alignment", 48)), alignment=48)),
                      "general.alignment 48 is not a power of two"),
    "duplicate tensor": (build(Layout(tensors=(Tensor("a.weight", (32,)), Tensor("a.weight", (32,))))),
                         "tensor 'a.weight' appears twice"),
}


def test_the_well_formed_file_passes():
    """The cases differ from this file in one field each, so each check is what refuses them."""
    path = _write(GOOD, "good.gguf")
    header = check_loadable(path)
    assert [t.name for t in header.tensors] == ["a.weight", "b.weight"]


def _write(data: bytes, name: str):
    from pathlib import Path

    path = Path.cwd() / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("case", list(BAD))
def test_bench_refuses_a_malformed_gguf_in_one_line(case, tmp_path):
    data, wanted = BAD[case]
    path = _write(data, "model.gguf")
    with pytest.raises(EdgeprofError) as info:
        check_loadable(path)
    assert wanted in str(info.value)
    result = CliRunner().invoke(cli, ["bench", str(path), "-p", "8", "-n", "2", "-r", "1", "--results",
                                      str(tmp_path / "results"), "--no-progress"])
    assert result.exit_code == 1
    assert result.output == f"Error: {path}: " + result.output.split(": ", 2)[2]  # names the file first
    assert wanted in result.output and result.output.count("\n") == 1 and "Traceback" not in result.output
    assert not (tmp_path / "results" / "bench.jsonl").exists()


LOAD_ALL = """
import sys
from edgeprof.bench.engine import Model
from edgeprof.errors import EdgeprofError
for path in sys.argv[1:]:
    try:
        Model(path)
        print("loaded", path, flush=True)
    except EdgeprofError as exc:
        print("refused", exc, flush=True)
"""


def test_mutated_real_models_either_fail_the_checks_or_load_without_crashing(tiny_factory, tmp_path):
    """Random damage to a real converted model's header and data: every file that passes our checks is
    then handed to llama.cpp (in a child process); the process must finish, whatever llama.cpp thinks."""
    import subprocess
    import sys

    import numpy as np
    from tiny import TinySpec

    from edgeprof.gguf_header import read_gguf_header

    _, _, f16 = tiny_factory(TinySpec(tied=True))
    original = f16.read_bytes()
    header_end = read_gguf_header(f16).data_offset
    rng = np.random.default_rng(7)
    passed, refused = [], 0
    for i in range(200):
        data = bytearray(original)
        for _ in range(int(rng.integers(1, 4))):
            at, width = int(rng.integers(0, header_end)), int(rng.choice([1, 1, 1, 8]))
            data[at:at + width] = rng.integers(0, 256, width, dtype=np.uint8).tobytes()
        if i % 8 == 0:
            data = data[:int(rng.integers(header_end, len(data)))]
        path = tmp_path / f"m{i}.gguf"
        path.write_bytes(data)
        try:
            check_loadable(path)
            passed.append(str(path))
        except EdgeprofError:
            refused += 1
            path.unlink()
    assert refused >= 30 and len(passed) >= 10  # both sides of the checks were exercised
    child = subprocess.run([sys.executable, "-c", LOAD_ALL, *passed], capture_output=True, text=True, timeout=300)
    assert child.returncode == 0, (child.returncode, child.stdout[-2000:], child.stderr[-2000:])
    assert child.stdout.count("\n") == len(passed), child.stdout
    print(f"{refused} refused by the checks; of {len(passed)} passed, {child.stdout.count('loaded')} loaded")
