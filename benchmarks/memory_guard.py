"""The memory guard's estimate against what was measured, per model file, context size and offload:
RSS growth over the pre-load baseline against the RAM estimate, and this process's GPU memory
(NVML's per-process figure, else the device's growth over its pre-load use) against the VRAM
estimate. Each cell runs in a fresh process (`edgeprof bench`), so a backend started by an earlier
cell does not hide its share. Target: within 10%.

    python benchmarks/memory_guard.py models/*.gguf --ctx 1024,8192 --ngl 0          # CPU
    python benchmarks/memory_guard.py a.gguf b.gguf --ctx 1024,8192 --ngl all         # GPU (twice: the
                                                                                     # first run measures the backend)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path


def measure(model: Path, ctx: int, ngl: str, threads: int, results: Path) -> dict:
    cmd = [sys.executable, "-m", "edgeprof", "bench", str(model), "-p", "512", "-n", "32", "-r", "1", "--ctx", str(ctx),
           "--ngl", ngl, "-t", str(threads), "--rerun", "--output", "json", "--no-progress", "--results", str(results)]
    (row,) = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    return row["memory"]


def ratio(estimate: float | None, measured: float | None) -> str:
    if not estimate or not measured:
        return "     -"
    return f"{estimate / measured:6.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", type=Path)
    parser.add_argument("--ctx", default="1024,8192")
    parser.add_argument("--ngl", default="0")
    parser.add_argument("--threads", type=int, default=2)
    a = parser.parse_args()
    print(f"{'model':34} {'n_ctx':>6} {'RSS+ est':>9} {'measured':>9} {'ratio':>6}   {'VRAM est':>9} "
          f"{'measured':>9} {'ratio':>6}  backend figures")
    with tempfile.TemporaryDirectory() as tmp:
        for model in a.models:
            for ctx in (int(c) for c in a.ctx.split(",")):
                m = measure(model, ctx, a.ngl, a.threads, Path(tmp))
                rss = m["peak_rss_mb"] - m["baseline_rss_mb"] if m.get("peak_rss_mb") else None
                vram = m.get("peak_gpu_proc_mem_mb") or m.get("peak_gpu_mem_above_baseline_mb")
                est_vram = m["estimate_vram_mb"] or None
                print(f"{model.name[:34]:34} {ctx:6} {m['estimate_ram_mb']:9.1f} {rss or 0:9.1f} "
                      f"{ratio(m['estimate_ram_mb'], rss)}   {est_vram or 0:9.1f} {vram or 0:9.1f} "
                      f"{ratio(est_vram, vram)}  {m.get('backend_overheads', '-')}")


if __name__ == "__main__":
    main()
