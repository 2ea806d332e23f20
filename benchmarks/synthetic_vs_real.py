"""Synthetic vs real: does a random-weight file with the real tensors run like the real file?

For each level, the demo model's real GGUF (edgeprof convert demo) and its synthetic twin (built
from the same checkpoint's config.json and tokenizer, `edgeprof bench --synthetic`) are benched
alternately, `--rounds` times each in alternating order, each run in its own process so peak RSS
is the run's own. Prints pp and tg tokens/s and peak RSS as median (min-max) over rounds and the
ratio synthetic / real. Goal: every ratio within 3% of 1.

    python benchmarks/synthetic_vs_real.py                           # Q8_0, Q4_K_M, Q2_K; pp512, tg128
    python benchmarks/synthetic_vs_real.py --levels Q4_K_M --rounds 5 --threads 2
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from vs_llama_bench import add_run_arguments, demo_model, describe  # noqa: E402

METRICS = (("pp", "pp_tps_mean"), ("tg", "tg_tps_mean"), ("peak RSS MB", None), ("peak VRAM MB", None))


def synthetic_twin(level: str) -> Path:
    from edgeprof.quantize import synthetic
    from edgeprof.quantize.demo import ensure_demo_checkpoint

    checkpoint = ensure_demo_checkpoint(progress=False)
    return synthetic.build(synthetic.resolve(str(checkpoint)), [level])[0]


def run(model: Path, a, results: Path) -> dict[str, float]:
    cmd = [sys.executable, "-m", "edgeprof", "bench", str(model), "-p", str(a.prompt), "-n", str(a.gen),
           "-t", str(a.threads), "-r", str(a.repetitions), "--ngl", a.ngl, "--format", "json", "--rerun",
           "--no-progress", "--results", str(results)]
    (row,) = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    return {"pp": row["metrics"]["pp_tps_mean"], "tg": row["metrics"]["tg_tps_mean"],
            "peak RSS MB": row["memory"]["peak_rss_mb"], "peak VRAM MB": row["memory"]["peak_gpu_mem_used_mb"] or 0}


def compare(level: str, a, tmp: Path) -> None:
    files = {"real": demo_model(level), "synthetic": synthetic_twin(level)}
    got = {name: {key: [] for key, _ in METRICS} for name in files}
    for i in range(a.rounds):
        for name in files if i % 2 == 0 else reversed(list(files)):
            values = run(files[name], a, tmp)
            for key in values:
                got[name][key].append(values[key])
            print(f"{level} round {i + 1} {name:9} pp {values['pp']:.1f} tg {values['tg']:.1f} "
                  f"peak RSS {values['peak RSS MB']:.0f} MB", file=sys.stderr)
    for key, _ in METRICS:
        real, syn = got["real"][key], got["synthetic"][key]
        if not any(real):
            continue  # no GPU: no VRAM figure
        per_round = [s / r for s, r in zip(syn, real)]
        print(f"{level:7} {key:12} {describe(real):>26} {describe(syn):>26}  "
              f"{statistics.median(syn) / statistics.median(real):.3f} (per round {min(per_round):.3f}-"
              f"{max(per_round):.3f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", default="Q8_0,Q4_K_M,Q2_K")
    add_run_arguments(parser, repetitions=3)
    parser.add_argument("--ngl", default="0", help="GPU layers (all = full offload)")
    a = parser.parse_args()
    print(f"demo model | threads {a.threads} | ngl {a.ngl} | pp{a.prompt} tg{a.gen} | {a.repetitions} repetitions x {a.rounds} rounds")
    print(f"{'level':7} {'metric':12} {'real':>26} {'synthetic':>26}  ratio synthetic/real (median)")
    with tempfile.TemporaryDirectory() as tmp:
        for level in a.levels.split(","):
            compare(level.strip(), a, Path(tmp))


if __name__ == "__main__":
    main()
