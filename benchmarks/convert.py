"""Benchmark the conversion stage on the embedded demo checkpoint (SmolLM2-135M-Instruct).

Prints, as medians with min-max spread over --repeat runs:
  * `edgeprof convert` (checkpoint -> F16) wall time and peak memory of the converting process,
    private/anonymous memory (what the process really needs) separated from file pages mapped
    from the page cache (reclaimable: the mmapped safetensors);
  * quantization time per level through edgeprof next to llama.cpp's own `llama-quantize` on
    the same F16 file, measured alternately in the same run, with their ratio.

    python benchmarks/convert.py --repeat 3 --levels Q8_0,Q4_K_M,Q2_K \
        --llama-quantize /path/to/llama-quantize
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from edgeprof.paths import all_cores


def _rollup(pid: int) -> dict[str, int]:
    """kB figures from /proc/PID/status (RssAnon = private, RssFile = mapped file pages)."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("RssAnon", "RssFile", "RssShmem", "VmHWM"):
                out[key] = int(value.split()[0])
    return out


def run_sampled(cmd: list[str], interval: float = 0.01) -> dict[str, float]:
    """Run ``cmd``; sample its memory every ``interval`` s; return wall time and peaks (MB)."""
    peaks = {"RssAnon": 0, "RssFile": 0, "VmHWM": 0}
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            try:
                for key, value in _rollup(proc.pid).items():
                    if key in peaks:
                        peaks[key] = max(peaks[key], value)
            except (FileNotFoundError, ProcessLookupError):
                return
            time.sleep(interval)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = proc.communicate()
    wall = time.perf_counter() - started
    done.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{err.decode()[-2000:]}")
    return {"wall_s": wall, "private_mb": peaks["RssAnon"] / 1024, "file_mb": peaks["RssFile"] / 1024,
            "rss_peak_mb": peaks["VmHWM"] / 1024}


def fmt(values: list[float], unit: str, digits: int = 2) -> str:
    med = statistics.median(values)
    return f"{med:.{digits}f} {unit} (min {min(values):.{digits}f}, max {max(values):.{digits}f})"


def bench_convert(checkpoint: Path, work: Path, repeat: int) -> tuple[Path, list[dict]]:
    runs = []
    for i in range(repeat):
        out = work / f"convert-{i}"
        cmd = [sys.executable, "-m", "edgeprof", "convert", str(checkpoint), "--out", str(out), "--no-progress",
               "--name", "demo"]
        runs.append(run_sampled(cmd))
        if i < repeat - 1:
            shutil.rmtree(out)
    return work / f"convert-{repeat - 1}" / "demo-F16.gguf", runs


def bench_quantize(f16: Path, levels: list[str], reference: str | None, repeat: int, threads: int) -> list[tuple]:
    """Per level: edgeprof's quantize_file call (timed inside the process after libllama is loaded,
    so the interpreter's and the library's start-up are not counted) and the llama-quantize
    process, alternately."""
    rows = []
    for level in levels:
        ours, theirs = [], []
        for _ in range(repeat):
            dest = f16.with_name(f"ours-{level}.gguf")
            code = ("import time; from pathlib import Path; from edgeprof import llamacpp; llamacpp.init(); "
                    "from edgeprof.quantize.quantizer import quantize_file; "
                    f"t = time.perf_counter(); quantize_file(Path({str(f16)!r}), Path({str(dest)!r}), {level!r}, "
                    f"{threads}); print(time.perf_counter() - t)")
            out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
            ours.append(float(out.stdout.strip().splitlines()[-1]))
            dest.unlink()
            if reference:
                ref_dest = f16.with_name(f"ref-{level}.gguf")
                theirs.append(run_sampled([reference, str(f16), str(ref_dest), level, str(threads)])["wall_s"])
                ref_dest.unlink()
        rows.append((level, ours, theirs))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--levels", default="Q8_0,Q4_K_M,Q2_K")
    parser.add_argument("--threads", type=int, default=all_cores())
    parser.add_argument("--llama-quantize", default=shutil.which("llama-quantize") or os.environ.get("LLAMA_QUANTIZE"),
                        help="llama.cpp's llama-quantize binary, the reference (default: from PATH)")
    args = parser.parse_args()

    from edgeprof.quantize.demo import ensure_demo_checkpoint

    checkpoint = ensure_demo_checkpoint(progress=False)
    size_mb = sum(p.stat().st_size for p in checkpoint.glob("*.safetensors")) / 1e6
    print(f"machine: {os.cpu_count()} cpus, {os.uname().machine}, python {sys.version.split()[0]}")
    print(f"checkpoint: {checkpoint} ({size_mb:.0f} MB of safetensors)")
    with tempfile.TemporaryDirectory() as tmp:
        f16, runs = bench_convert(checkpoint, Path(tmp), args.repeat)
        print("\nconvert checkpoint -> F16 (whole process: interpreter, imports, tokenizer, hashing, writing)")
        print(f"  wall time          {fmt([r['wall_s'] for r in runs], 's')}")
        print(f"  peak private (anon){fmt([r['private_mb'] for r in runs], 'MB', 0)}")
        print(f"  peak file pages    {fmt([r['file_mb'] for r in runs], 'MB', 0)} (page cache, reclaimable)")
        print(f"  peak RSS (VmHWM)   {fmt([r['rss_peak_mb'] for r in runs], 'MB', 0)}")
        private = statistics.median(r["private_mb"] for r in runs)
        print(f"  private / checkpoint size = {private / size_mb:.2f} (goal: < 0.50)")
        print(f"\nquantization, {args.threads} threads, edgeprof vs llama-quantize "
              f"({args.llama_quantize or 'not found: pass --llama-quantize'})")
        for level, ours, theirs in bench_quantize(f16, args.levels.split(","), args.llama_quantize,
                                                  args.repeat, args.threads):
            line = f"  {level:7} edgeprof {fmt(ours, 's')}"
            if theirs:
                line += (f" | llama-quantize {fmt(theirs, 's')}"
                         f" | ratio {statistics.median(ours) / statistics.median(theirs):.2f}")
            print(line)


if __name__ == "__main__":
    main()
