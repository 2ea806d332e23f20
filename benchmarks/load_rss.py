"""A long sweep with bounded memory: peak RSS of each cell across a sweep of many cells.

Runs `edgeprof bench` on one model over a grid of prompt lengths, generation lengths and context
depths (one process, 1 repetition per cell, no warmup: as many cells as possible), then reads each
row's peak RSS (VmHWM, reset before every cell) and prints it every N cells, the growth from the
early cells to the last ones, and the slope of a straight-line fit. Writes rss_per_cell.png.

    python benchmarks/load_rss.py                     # the demo model's Q4_K_M, 200 cells
    python benchmarks/load_rss.py model.gguf --cells 1000
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from vs_llama_bench import demo_model


def grid(cells: int) -> list[str]:
    """-p/-n/-d lists whose product is ``cells`` (5 generation lengths x 5 depths x prompts)."""
    prompts = max(1, cells // 25)
    return ["-p", ",".join(str(8 * (i + 1)) for i in range(prompts)), "-n", "1,2,3,4,5", "-d", "0,8,16,24,32"]


def peak_rss_per_cell(model: Path, cells: int, results: Path) -> list[float]:
    subprocess.run([sys.executable, "-m", "edgeprof", "bench", str(model), *grid(cells), "-t", "1", "-r", "1",
                    "--no-warmup", "--results", str(results), "--no-progress", "--output", "json"],
                   check=True, stdout=subprocess.DEVNULL)
    from edgeprof.results.store import ResultStore

    return [row["memory"]["peak_rss_mb"] for row in ResultStore(results).rows() if row["status"] == "ok"]


def slope(values: list[float]) -> float:
    """MB per cell of the least-squares line through ``values``."""
    xs = range(len(values))
    mx, my = statistics.fmean(xs), statistics.fmean(values)
    return sum((x - mx) * (y - my) for x, y in zip(xs, values)) / sum((x - mx) ** 2 for x in xs)


def plot(rss: list[float], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.plot(range(1, len(rss) + 1), rss, ".", markersize=3)
    ax.set_xlabel("cell (in sweep order)")
    ax.set_ylabel("peak RSS of the cell (MiB)")
    ax.set_ylim(0, max(rss) * 1.2)
    ax.set_title("edgeprof bench: memory across one long sweep")
    fig.tight_layout()
    fig.savefig(out, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", nargs="?", type=Path, help="GGUF file (default: the demo model's Q4_K_M)")
    parser.add_argument("--cells", type=int, default=200)
    parser.add_argument("--out", type=Path, default=Path("rss_per_cell.png"))
    a = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rss = peak_rss_per_cell(a.model or demo_model("Q4_K_M"), a.cells, Path(tmp))
    settled = rss[len(rss) // 10:]  # after the allocator's first fills
    print(f"{len(rss)} cells; peak RSS every {max(1, len(rss) // 20)} cells (MiB):")
    print(" ".join(f"{v:.1f}" for v in rss[::max(1, len(rss) // 20)]))
    print(f"first cell {rss[0]:.1f}, cells {len(rss) // 10}-{len(rss) // 5} median "
          f"{statistics.median(rss[len(rss) // 10:len(rss) // 5]):.2f}, last 10% median "
          f"{statistics.median(rss[-len(rss) // 10:]):.2f} MiB; slope after the first 10%: "
          f"{slope(settled) * 1024:.2f} KiB per cell")
    plot(rss, a.out)
    print(f"figure: {a.out}")


if __name__ == "__main__":
    main()
