"""A sweep of 200 cells runs to the end in one process with bounded memory: each cell's peak RSS
(VmHWM, reset before every cell) stays flat across the sweep. Before the rows were kept on disk
only, the in-memory copy of every row grew it by about 16 KiB per cell (3.3 MiB over 200)."""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

from tiny import TinySpec

from edgeprof.results.store import ResultStore

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from load_rss import peak_rss_per_cell, slope


def test_200_cells_run_with_flat_memory(tiny_factory, tmp_path):
    _, _, model = tiny_factory(TinySpec(tied=True))
    rss = peak_rss_per_cell(model, 200, tmp_path / "r")
    rows = list(ResultStore(tmp_path / "r").rows())
    assert len(rows) == 200 and len(rss) == 200 and len({r["cell"] for r in rows}) == 200
    settled = rss[20:]
    growth = statistics.median(rss[-20:]) - statistics.median(rss[20:40])
    assert slope(settled) * 1024 < 4, f"{slope(settled) * 1024:.1f} KiB per cell"
    assert growth < 0.75, f"peak RSS grew {growth:.2f} MiB from cells 20-40 to the last 20"
