"""The house rules, checked: the three layers (import-linter contracts in pyproject.toml, shown to
fail on deliberate violations), ruff, and one GGUF header read per model per bench command."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    """lint-imports with the project's contracts, on the edgeprof package found under ``root``."""
    return subprocess.run([str(BIN / "lint-imports"), "--no-cache"], cwd=root, capture_output=True, text=True,
                          env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"})


def test_the_import_contracts_hold():
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


@pytest.mark.parametrize(("module", "line", "contract"), [
    ("bench/sweep.py", "from edgeprof.plot import style", "Three layers"),  # a stage imports a stage
    ("quantize/levels_extra.py", "import edgeprof.bench.api", "Three layers"),
    ("results/store.py", "import edgeprof.cli.options", "Three layers"),  # the base reaches up
    ("results/export.py", "import click", "Only the CLI uses click"),
    ("plot/figures.py", "import llama_cpp", "plot reads recorded results only"),
])
def test_a_deliberate_violation_breaks_a_contract(tmp_path, module, line, contract):
    shutil.copytree(ROOT / "edgeprof", tmp_path / "edgeprof", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / "edgeprof" / module
    target.write_text((target.read_text() if target.exists() else "") + f"\n{line}  # deliberate\n")
    done = lint_imports(tmp_path)
    assert done.returncode != 0
    broken = done.stdout[done.stdout.index("Broken contracts"):]
    assert contract in broken and module.replace("/", ".").removesuffix(".py") in broken


def test_ruff_finds_nothing():
    done = subprocess.run([str(BIN / "ruff"), "check", "--no-cache", "."], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_bench_reads_each_gguf_header_once(tiny_levels, tmp_path, monkeypatch):
    """check, row info, memory guard, load, and the quality checks all share one header per file
    (a 49k-token vocabulary takes ~170 ms to parse)."""
    from edgeprof import gguf_check, gguf_header
    from edgeprof.cli import cli

    files = tiny_levels("Q4_0")
    real = gguf_header.read_gguf_header
    reads: list[Path] = []

    def counting(path, *args, **kwargs):
        reads.append(Path(path).resolve())
        return real(path, *args, **kwargs)

    monkeypatch.setattr(gguf_header, "read_gguf_header", counting)
    monkeypatch.setattr(gguf_check, "read_gguf_header", counting)
    result = CliRunner().invoke(cli, [
        "bench", str(files["F16"]), str(files["Q4_0"]), "-p", "8", "-n", "4", "-r", "1", "-t", "1,2",
        "--ppl", "gsm8k_text", "--ppl-ctx", "64", "--ppl-chunks", "1", "--kld-baseline", str(files["F16"]),
        "--results", str(tmp_path), "--no-progress", "--sensors", "none"])
    assert result.exit_code == 0, result.output
    assert sorted(reads) == sorted(p.resolve() for p in (files["F16"], files["Q4_0"]))
