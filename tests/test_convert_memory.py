"""The memory ceiling: conversion streams tensor by tensor, so a checkpoint about 3x larger than the
memory a process may add to its baseline converts under that limit (RLIMIT_AS on a child process).

The child imports edgeprof, llama_cpp and numpy first and reads its own address-space size (VmSize):
that baseline (libraries, thread stacks, OpenBLAS buffers) is what any edgeprof process costs. The
limit is baseline + a third of the checkpoint. The same child that loads the whole checkpoint at once
fails under that limit, so the limit is real.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from tiny import TinySpec, build_checkpoint

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc are Linux's")

# ~103 MB of F16 weights in tensors of at most 1.4 MB. The writer converts up to 16 MB of float32 at a
# time (CHUNK_BYTES): with tensors this size it adds ~18 MB to the baseline at its peak (measured), with
# 16 MB chunks of larger tensors ~35 MB, whatever the model's size.
BIG = TinySpec(hidden=512, ffn=1408, layers=16, heads=8, kv_heads=8, dtype="F16", seed=3)

CHILD = textwrap.dedent("""
    import json, resource, sys
    from pathlib import Path

    import numpy, llama_cpp, gguf, tqdm, tokenizers  # noqa: F401  the baseline: what an edgeprof process loads
    import edgeprof.quantize.pipeline as pipeline
    import edgeprof.quantize.checkpoint, edgeprof.quantize.writer, edgeprof.quantize.tokenizer  # noqa: F401

    def vm(key):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024

    mode, folder, out, headroom = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
    baseline = vm("VmSize")
    limit = baseline + headroom
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    report = {"baseline": baseline, "limit": limit}
    try:
        if mode == "convert":
            options = pipeline.ConvertOptions(out_dir=out, progress=False, threads=1)
            rows = pipeline.convert(str(folder), options)
            report["size"] = rows[0].size_bytes
        else:  # the whole checkpoint in memory at once, as a non-streaming converter holds it
            held = [numpy.fromfile(p, dtype=numpy.uint8) for p in folder.glob("*.safetensors")]
            report["size"] = sum(h.size for h in held)
        report["ok"] = True
    except MemoryError:
        import traceback
        traceback.print_exc()
        report["ok"] = False
    report["peak"] = vm("VmPeak")
    print(json.dumps(report))
""")


@pytest.fixture(scope="module")
def big_checkpoint(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("big") / "ckpt"
    build_checkpoint(folder, BIG)
    return folder


def _run(mode: str, folder: Path, out: Path, headroom: int) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD, mode, str(folder), str(out), str(headroom)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    report["stderr"] = done.stderr[-1500:]
    return report


def test_conversion_streams_under_a_limit_a_third_of_the_checkpoint(big_checkpoint, tmp_path):
    weights = sum(p.stat().st_size for p in big_checkpoint.glob("*.safetensors"))
    assert weights > 90e6
    headroom = weights // 3
    report = _run("convert", big_checkpoint, tmp_path / "out", headroom)
    assert report["ok"], f"conversion ran out of memory under baseline + {headroom / 1e6:.0f} MB: {report}"
    assert report["peak"] <= report["limit"]
    assert report["size"] > weights * 0.95  # the F16 GGUF holds every weight
    written = next((tmp_path / "out").glob("*-F16.gguf"))
    assert written.stat().st_size == report["size"]
    print(f"checkpoint {weights / 1e6:.0f} MB; baseline VmSize {report['baseline'] / 1e6:.0f} MB; "
          f"limit +{headroom / 1e6:.0f} MB; peak +{(report['peak'] - report['baseline']) / 1e6:.0f} MB")


def test_the_limit_is_real_holding_the_checkpoint_fails(big_checkpoint, tmp_path):
    weights = sum(p.stat().st_size for p in big_checkpoint.glob("*.safetensors"))
    report = _run("hold", big_checkpoint, tmp_path / "out", weights // 3)
    assert report["ok"] is False
