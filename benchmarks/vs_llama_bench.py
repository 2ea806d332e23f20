"""edgeprof bench vs llama.cpp's llama-bench, side by side on the same GGUF, same settings, same tests.

Both run llama-bench's own test list for -p, -n and -d (edgeprof with `--tests llama-bench`): a pp
test per prompt length and a tg test per generation length at each depth. The default depths,
0 and the prompt length, hold the two halves of an ordinary edgeprof cell pp512+tg128: its prefill
is pp512 and its decode, which follows the prompt, is tg128 @ d512 (its llama-bench export says so).
Tests are paired by (n_prompt, n_gen, n_depth), as compare-llama-bench.py pairs them.

Builds llama-bench from the sources llama-cpp-python was built from (benchmarks/llama_tools.py),
then runs the two alternately (`--rounds` times each, in alternating order so drift hits both) and
prints each test's tokens/s as median (min-max) over rounds and the ratio edgeprof / llama-bench.
Goal: within 3%.

    python benchmarks/vs_llama_bench.py                       # demo model, Q4_K_M, all cores
    python benchmarks/vs_llama_bench.py model.gguf --ngl 99 --threads 8 --depth 0,512,4096 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from edgeprof.paths import all_cores
from edgeprof.results.export import test_name

sys.path.insert(0, str(Path(__file__).resolve().parent))

from llama_tools import build_tools


def demo_model(level: str) -> Path:
    out = Path(tempfile.gettempdir()) / "edgeprof-bench-models"
    path = out / f"SmolLM2-135M-Instruct-{level}.gguf"
    if not path.exists():
        subprocess.run([sys.executable, "-m", "edgeprof", "convert", "demo", "--quant", level, "--out", str(out),
                        "--no-progress"], check=True, stdout=subprocess.DEVNULL)
    return path


def run_llama_bench(binary: Path, model: Path, a) -> dict[tuple, float]:
    """{(n_prompt, n_gen, n_depth): t/s} of llama-bench's tests."""
    cmd = [str(binary), "-m", str(model), "-t", str(a.threads), "-r", str(a.repetitions), "-ngl", str(a.ngl),
           "-p", str(a.prompt), "-n", str(a.gen), "-d", depths(a), "-o", "json"]
    return _by_test(json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout))


def run_edgeprof(model: Path, a, results: Path) -> dict[tuple, float]:
    """The same tests through `edgeprof bench --tests llama-bench`, read from its llama-bench export."""
    ngl = "all" if a.ngl >= 99 else str(a.ngl)
    export = results / "llama-bench.json"
    cmd = [sys.executable, "-m", "edgeprof", "bench", str(model), "--tests", "llama-bench", "-p", str(a.prompt),
           "-n", str(a.gen), "-d", depths(a), "-t", str(a.threads), "-r", str(a.repetitions), "--ngl", ngl,
           "--rerun", "--no-progress", "--results", str(results), "--export-llama-bench", str(export),
           *a.edgeprof_args.split()]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return _by_test(json.loads(export.read_text()))


def _by_test(entries: list[dict]) -> dict[tuple, float]:
    return {(e["n_prompt"], e["n_gen"], e["n_depth"]): e["avg_ts"] for e in entries}


def depths(a) -> str:
    return a.depth or f"0,{a.prompt}"


def add_run_arguments(parser: argparse.ArgumentParser, repetitions: int = 5) -> None:
    """The settings every side-by-side benchmark here takes."""
    parser.add_argument("--threads", type=int, default=all_cores())
    parser.add_argument("--prompt", type=int, default=512)
    parser.add_argument("--gen", type=int, default=128)
    parser.add_argument("--repetitions", type=int, default=repetitions)
    parser.add_argument("--rounds", type=int, default=3)


def describe(values: list[float]) -> str:
    return f"{statistics.median(values):9.2f} ({min(values):.2f}-{max(values):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", nargs="?", type=Path, help="GGUF file (default: the demo model at --level)")
    parser.add_argument("--level", default="Q4_K_M")
    add_run_arguments(parser)
    parser.add_argument("--ngl", type=int, default=0)
    parser.add_argument("--llama-bench", type=Path, help="use this llama-bench instead of building one")
    parser.add_argument("--depth", help="context depths, a list (default: 0 and the prompt length)")
    parser.add_argument("--edgeprof-args", default="", help="more options for edgeprof bench, e.g. '--sensors none'")
    a = parser.parse_args()
    binary = a.llama_bench or build_tools(["llama-bench"]) / "llama-bench"
    model = a.model or demo_model(a.level)
    theirs, ours = alternate(binary, model, a)
    print(f"model {model} | threads {a.threads} | ngl {a.ngl} | {a.repetitions} repetitions x {a.rounds} rounds")
    print(f"{'test':16} {'llama-bench t/s':>24} {'edgeprof t/s':>24}  ratio (median)")
    for key in theirs:
        if key not in ours:
            print(f"{test_name(*key):16} {describe(theirs[key]):>24} {'(not run)':>24}")
            continue
        ratio = statistics.median(ours[key]) / statistics.median(theirs[key])
        per_round = [o / t for o, t in zip(ours[key], theirs[key])]
        print(f"{test_name(*key):16} {describe(theirs[key]):>24} {describe(ours[key]):>24}  {ratio:.3f} "
              f"(per round {min(per_round):.3f}-{max(per_round):.3f})")


def alternate(binary: Path, model: Path, a) -> tuple[dict, dict]:
    """{test: [t/s per round]} of llama-bench and of edgeprof, run in alternating order."""
    ours, theirs = defaultdict(list), defaultdict(list)
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(a.rounds):
            order = [("llama-bench", theirs), ("edgeprof", ours)]
            for name, sink in order if i % 2 == 0 else reversed(order):
                got = run_llama_bench(binary, model, a) if name == "llama-bench" else run_edgeprof(model, a, Path(tmp))
                for key, ts in got.items():
                    sink[key].append(ts)
                print(f"round {i + 1} {name:11} " + "  ".join(f"{test_name(*k)} {v:.2f}" for k, v in got.items()),
                      file=sys.stderr)
    return theirs, ours


if __name__ == "__main__":
    main()
