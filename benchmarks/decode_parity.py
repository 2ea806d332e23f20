"""Where a gap between edgeprof's decode and llama-bench's comes from: llama-bench's `tg N @ dD` beside
edgeprof's timed loop with one thing changed at a time, in alternating rounds in one process each.

Variants of edgeprof's loop (all: the same file, threads, ngl, depth D filled untimed, N decode steps):

    bench      what `edgeprof bench -p D -n N` did before: n_ctx rounded up to a multiple of 256 (+8)
    exact      n_ctx = D + N exactly, as llama-bench sizes its context
    nosample   exact, and the next token is a fixed one instead of argmax over the logits
    wall       exact, timed as llama-bench times it: the whole loop's wall time, not the sum of steps
    nopool     exact, without the ggml threadpool llama-bench attaches
    pylog      exact, with llama.cpp's log still going to edgeprof's Python callback during the loop (as
               before the fix: with CUDA every decode logs a DEBUG line); prints the lines per token

Prints tokens/s per variant as median (min-max) over rounds and the ratio to llama-bench.

    python benchmarks/decode_parity.py model.gguf --ngl 99 --depth 512 --gen 128 --rounds 3
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from edgeprof.paths import all_cores

VARIANTS = ("bench", "exact", "nosample", "wall", "nopool", "pylog")


def llama_bench_tg(binary: Path, model: Path, a) -> float:
    cmd = [str(binary), "-m", str(model), "-t", str(a.threads), "-r", str(a.repetitions), "-ngl", str(a.ngl),
           "-p", "0", "-n", str(a.gen), "-d", str(a.depth), "-o", "json"]
    (entry,) = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    return entry["avg_ts"]


def edgeprof_tg(model, variant: str, a) -> float:
    """Mean over repetitions of tokens/s, as llama-bench reports avg_ts."""
    from edgeprof.bench import engine
    from edgeprof.bench.measure import greedy, random_prompt

    n_ctx = a.depth + a.gen
    if variant == "bench":
        n_ctx = -(-(n_ctx + 8) // 256) * 256
    settings = engine.ContextSettings(n_ctx=n_ctx, n_threads=a.threads)
    from edgeprof.bench import threadpool

    original = threadpool._functions
    if variant == "nopool":
        threadpool._functions = lambda: None  # Threadpool() becomes a no-op: ggml's per-graph pool
    from edgeprof import llamacpp

    rates, lines = [], []
    quiet = contextlib.nullcontext() if variant == "pylog" else llamacpp.log_off()
    try:
        with engine.Context(model, settings) as ctx, quiet, llamacpp.listening(lines.append):
            depth = random_prompt(a.depth, model.n_vocab, 1)
            for rep in range(a.repetitions + 1):  # the first is the warmup
                ctx.clear()
                ctx.prefill(depth, 0, want_logits=True)
                token, pos, steps = 0, a.depth, 0
                started = time.perf_counter_ns()
                for _ in range(a.gen):
                    steps += ctx.decode_one(token, pos)
                    pos += 1
                    token = 7 if variant == "nosample" else greedy(ctx)
                wall = time.perf_counter_ns() - started
                if rep:
                    rates.append(a.gen / ((wall if variant == "wall" else steps) / 1e9))
    finally:
        threadpool._functions = original
    if variant == "pylog":
        print(f"  pylog: {len(lines) / ((a.repetitions + 1) * a.gen):.2f} log lines per token, e.g. "
              f"{lines[-1].strip() if lines else '-'}", file=sys.stderr)
    return statistics.fmean(rates)


def describe(values: list[float]) -> str:
    return f"{statistics.median(values):9.2f} ({min(values):.2f}-{max(values):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path)
    parser.add_argument("--llama-bench", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=all_cores())
    parser.add_argument("--ngl", type=int, default=0)
    parser.add_argument("--depth", type=int, default=512)
    parser.add_argument("--gen", type=int, default=128)
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    a = parser.parse_args()
    from edgeprof import llamacpp
    from edgeprof.bench.engine import Model

    llamacpp.init()
    variants = a.variants.split(",")
    results: dict[str, list[float]] = {name: [] for name in ("llama-bench", *variants)}
    with Model(a.model, a.ngl) as model:
        for i in range(a.rounds):
            order = ["llama-bench", *variants]
            for name in order if i % 2 == 0 else reversed(order):
                if name == "llama-bench":
                    rate = llama_bench_tg(a.llama_bench, a.model, a)
                else:
                    rate = edgeprof_tg(model, name, a)
                results[name].append(rate)
                print(f"round {i + 1} {name:11} tg{a.gen}@d{a.depth} {rate:.2f} t/s", file=sys.stderr, flush=True)
    reference = statistics.median(results["llama-bench"])
    print(f"model {a.model.name} | threads {a.threads} | ngl {a.ngl} | tg{a.gen} @ d{a.depth} | "
          f"{a.repetitions} repetitions x {a.rounds} rounds")
    for name, values in results.items():
        per_round = [v / r for v, r in zip(values, results["llama-bench"])]
        print(f"{name:12} {describe(values):>26}  ratio {statistics.median(values) / reference:.3f} "
              f"(per round {min(per_round):.3f}-{max(per_round):.3f})")


if __name__ == "__main__":
    main()
