"""edgeprof bench vs llama.cpp's llama-bench, side by side on the same GGUF, same settings.

Same methodology on both sides: pp from an empty context; tg after the prompt, which for
llama-bench is its tg test at depth = prompt length (`-d`), since edgeprof decodes from the
context the prompt left, as a real request does.

Builds llama-bench from the sources llama-cpp-python was built from (benchmarks/llama_tools.py),
then runs the two alternately (`--rounds` times each, in alternating order so drift hits both) and
prints pp and tg tokens/s as median (min-max) over rounds and the ratio edgeprof / llama-bench.
Goal: within 3%.

    python benchmarks/vs_llama_bench.py                       # demo model, Q4_K_M, all cores
    python benchmarks/vs_llama_bench.py model.gguf --ngl 99 --threads 8 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from edgeprof.paths import all_cores

sys.path.insert(0, str(Path(__file__).resolve().parent))

from llama_tools import build_tools


def demo_model(level: str) -> Path:
    out = Path(tempfile.gettempdir()) / "edgeprof-bench-models"
    path = out / f"SmolLM2-135M-Instruct-{level}.gguf"
    if not path.exists():
        subprocess.run([sys.executable, "-m", "edgeprof", "convert", "demo", "--quant", level, "--out", str(out),
                        "--no-progress"], check=True, stdout=subprocess.DEVNULL)
    return path


def run_llama_bench(binary: Path, model: Path, a) -> dict[str, float]:
    """pp from an empty context; tg at depth = prompt length, because edgeprof decodes after the
    prompt, as a user's request does (llama-bench's plain tg starts from an empty context)."""
    common = [str(binary), "-m", str(model), "-t", str(a.threads), "-r", str(a.repetitions), "-ngl", str(a.ngl),
              "-o", "json"]
    pp = _entries(common + ["-p", str(a.prompt), "-n", "0"])[0]
    tg = _entries(common + ["-p", "0", "-n", str(a.gen), "-d", str(a.prompt)])[0]
    return {"pp": pp["avg_ts"], "tg": tg["avg_ts"]}


def _entries(cmd: list[str]) -> list[dict]:
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)


def run_edgeprof(model: Path, a, results: Path) -> dict[str, float]:
    ngl = "all" if a.ngl >= 99 else str(a.ngl)
    cmd = [sys.executable, "-m", "edgeprof", "bench", str(model), "-p", str(a.prompt), "-n", str(a.gen),
           "-t", str(a.threads), "-r", str(a.repetitions), "--ngl", ngl, "--output", "json", "--rerun",
           "--no-progress", "--results", str(results)]
    (row,) = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    return {"pp": row["metrics"]["pp_tps_mean"], "tg": row["metrics"]["tg_tps_mean"]}


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
    a = parser.parse_args()
    binary = a.llama_bench or build_tools(["llama-bench"]) / "llama-bench"
    model = a.model or demo_model(a.level)
    ours, theirs = {"pp": [], "tg": []}, {"pp": [], "tg": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(a.rounds):
            order = [("llama-bench", theirs), ("edgeprof", ours)]
            for name, sink in order if i % 2 == 0 else reversed(order):
                got = run_llama_bench(binary, model, a) if name == "llama-bench" else run_edgeprof(model, a, Path(tmp))
                for key in sink:
                    sink[key].append(got[key])
                print(f"round {i + 1} {name:11} pp{a.prompt} {got['pp']:.2f} t/s  tg{a.gen} {got['tg']:.2f} t/s",
                      file=sys.stderr)
    print(f"model {model} | threads {a.threads} | ngl {a.ngl} | {a.repetitions} repetitions x {a.rounds} rounds")
    print(f"{'test':14} {'llama-bench t/s':>24} {'edgeprof t/s':>24}  ratio (median)")
    for key, label in (("pp", f"pp{a.prompt}"), ("tg", f"tg{a.gen}@d{a.prompt}")):
        ratio = statistics.median(ours[key]) / statistics.median(theirs[key])
        per_round = [o / t for o, t in zip(ours[key], theirs[key])]
        print(f"{label:14} {describe(theirs[key]):>24} {describe(ours[key]):>24}  {ratio:.3f} "
              f"(per round {min(per_round):.3f}-{max(per_round):.3f})")


if __name__ == "__main__":
    main()
