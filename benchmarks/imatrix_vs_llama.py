"""Compare edgeprof's importance matrix with llama-imatrix's own on the same F16 file and corpus.

llama-imatrix is built once from the sources llama-cpp-python was built from (llama_tools.py, cached;
on 2 busy cores this takes tens of minutes). Both run ``-c CTX -b CTX`` (one sequence per decode, as
edgeprof decodes) over the same chunks; every entry's sums and counts are compared.

    python benchmarks/imatrix_vs_llama.py MODEL-F16.gguf corpus.txt --ctx 512 --chunks 8
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def llama_imatrix(bin_dir: Path, f16: Path, corpus: Path, out: Path, ctx: int, chunks: int, threads: int) -> None:
    subprocess.run([str(bin_dir / "llama-imatrix"), "-m", str(f16), "-f", corpus.name, "-o", str(out),
                    "-c", str(ctx), "-b", str(ctx), "--chunks", str(chunks), "-t", str(threads), "--no-ppl"],
                   check=True, cwd=corpus.parent, capture_output=True)


def edgeprof_imatrix(f16: Path, corpus: Path, out: Path, ctx: int, chunks: int, threads: int) -> None:
    from edgeprof.quantize.imatrix import ImatrixCorpus, ImatrixOptions, collect
    from edgeprof.quantize.imatrix_file import write_imatrix

    options = ImatrixOptions(ImatrixCorpus(corpus.name, corpus.read_text(encoding="utf-8")), ctx, chunks)
    write_imatrix(collect(f16, options, threads), out)


def compare(ours: Path, theirs: Path) -> dict:
    """Per entry: equal sums (bit for bit), the largest relative difference, equal counts."""
    import gguf

    a = {t.name: np.asarray(t.data, dtype=np.float32).ravel() for t in gguf.GGUFReader(ours).tensors}
    b = {t.name: np.asarray(t.data, dtype=np.float32).ravel() for t in gguf.GGUFReader(theirs).tensors}
    sums = [n for n in b if n.endswith(".in_sum2")]
    rel = max(float(np.abs(a[n] - b[n]).max() / max(np.abs(b[n]).max(), 1e-30)) for n in sums if n in a)
    return {"same_names": sorted(a) == sorted(b), "bit_equal": all(n in a and np.array_equal(a[n], b[n]) for n in b),
            "max_rel_diff": rel, "counts_equal": all(np.array_equal(a[n], b[n]) for n in b if n.endswith(".counts"))}


def main() -> None:
    from llama_tools import build_tools

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("f16", type=Path)
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--ctx", type=int, default=512)
    parser.add_argument("--chunks", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    bin_dir = build_tools(["llama-imatrix"])
    with tempfile.TemporaryDirectory() as tmp:
        ours, theirs = Path(tmp) / "ours.gguf", Path(tmp) / "theirs.gguf"
        edgeprof_imatrix(args.f16, args.corpus.resolve(), ours, args.ctx, args.chunks, args.threads)
        llama_imatrix(bin_dir, args.f16.resolve(), args.corpus.resolve(), theirs, args.ctx, args.chunks, args.threads)
        print(compare(ours, theirs))


if __name__ == "__main__":
    main()
