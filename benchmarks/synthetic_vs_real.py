"""Synthetic vs real: does a random-weight file with the real tensors run like the real file?

For each level, three files are benched: the demo model's real GGUF (edgeprof convert demo), a
byte-identical copy of it in a new file (the control), and the synthetic twin
(built from the same checkpoint's config.json and tokenizer, `edgeprof bench --synthetic`). Each
run is its own process, so peak RSS is the run's own; the order rotates every round so drift and
position hit all three alike.

Why the control: on a shared VM two byte-identical files differed by up to 8% in decode speed
between processes (measured: 1 thread, Q8_0). The copy's ratio to the real file is the noise floor
of this machine; the synthetic file's ratio means something only next to it.

Prints pp and tg tokens/s and peak RSS as median (min-max) over rounds, then per level the median
of the per-round ratios synthetic/real and copy/real. Goal: synthetic/real within 3% of 1.

    python benchmarks/synthetic_vs_real.py                           # Q8_0, Q4_K_M, Q2_K; pp512, tg128
    python benchmarks/synthetic_vs_real.py --levels Q4_K_M --rounds 7 --threads 4
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from vs_llama_bench import add_run_arguments, demo_model, describe

METRICS = ("pp", "tg", "peak RSS MB", "peak VRAM MB")
SIDES = ("real", "copy", "synthetic")


def synthetic_twin(level: str) -> Path:
    from edgeprof.quantize import synthetic
    from edgeprof.quantize.demo import ensure_demo_checkpoint

    checkpoint = ensure_demo_checkpoint(progress=False)
    return synthetic.build(synthetic.find_shape(str(checkpoint)), [level])[0]


def run(model: Path, a, results: Path) -> dict[str, float]:
    cmd = [sys.executable, "-m", "edgeprof", "bench", str(model), "-p", str(a.prompt), "-n", str(a.gen),
           "-t", str(a.threads), "-r", str(a.repetitions), "--ngl", a.ngl, "--output", "json", "--rerun",
           "--no-progress", "--results", str(results)]
    (row,) = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    return {"pp": row["metrics"]["pp_tps_mean"], "tg": row["metrics"]["tg_tps_mean"],
            "peak RSS MB": row["memory"]["peak_rss_mb"], "peak VRAM MB": row["memory"]["peak_gpu_mem_used_mb"] or 0}


def control_copy(real: Path, folder: Path) -> Path:
    """The real file's bytes in a new file: same content, new placement on disk and in the page cache."""
    copy = folder / f"{real.stem}.control.gguf"
    shutil.copyfile(real, copy)
    return copy


def compare(level: str, a, tmp: Path) -> None:
    real, synthetic = demo_model(level), synthetic_twin(level)
    files = {"real": real, "copy": control_copy(real, tmp), "synthetic": synthetic}
    got = {side: {key: [] for key in METRICS} for side in SIDES}
    for i in range(a.rounds):
        for side in SIDES[i % 3:] + SIDES[:i % 3]:
            values = run(files[side], a, tmp)
            for key in METRICS:
                got[side][key].append(values[key])
            print(f"{level} round {i + 1} {side:9} pp {values['pp']:.1f} tg {values['tg']:.1f} "
                  f"peak RSS {values['peak RSS MB']:.0f} MB", file=sys.stderr)
    for key in METRICS:
        if not any(got["real"][key]):
            continue  # no GPU: no VRAM figure
        print(f"{level:7} {key:12} " + " ".join(f"{describe(got[side][key]):>26}" for side in SIDES)
              + f"  {ratio(got['synthetic'][key], got['real'][key])}  {ratio(got['copy'][key], got['real'][key])}")


def ratio(side: list[float], real: list[float]) -> str:
    """Median of the per-round ratios (each round's runs are neighbours in time), with their range."""
    per_round = [s / r for s, r in zip(side, real)]
    return f"{statistics.median(per_round):.3f} ({min(per_round):.2f}-{max(per_round):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", default="Q8_0,Q4_K_M,Q2_K")
    add_run_arguments(parser, repetitions=3)
    parser.add_argument("--ngl", default="0", help="GPU layers (all = full offload)")
    a = parser.parse_args()
    print(f"demo model | threads {a.threads} | ngl {a.ngl} | pp{a.prompt} tg{a.gen} | "
          f"{a.repetitions} repetitions x {a.rounds} rounds")
    print(f"{'level':7} {'metric':12} " + " ".join(f"{side:>26}" for side in SIDES)
          + "  synthetic/real       copy/real (control)")
    with tempfile.TemporaryDirectory() as tmp:
        for level in a.levels.split(","):
            compare(level.strip(), a, Path(tmp))


if __name__ == "__main__":
    main()
