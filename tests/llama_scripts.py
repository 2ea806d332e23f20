"""llama.cpp's own Python scripts, from the llama-cpp-python sdist the installed library was built from.

Users compare llama-bench JSON files with llama.cpp's scripts/compare-llama-bench.py, so the tests
run that very script on edgeprof's exports. It ships in the sdist (vendor/llama.cpp/scripts), which
pip does not keep once the wheel is built. It is taken from benchmarks/llama_tools.py's unpacked
sources when they are there, else downloaded from PyPI once (``pip download --no-binary``, which CI
can do: it reaches PyPI) and kept in edgeprof's cache; the only test input fetched from the network.
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from edgeprof.paths import cache_dir

# Read at import, before conftest points EDGEPROF_CACHE at a folder of this session only: the
# script is 76 MB of sdist away, so it is kept where later sessions find it.
USER_CACHE = cache_dir()
COMPARE = "compare-llama-bench.py"


def compare_llama_bench() -> Path:
    """The path of compare-llama-bench.py of the installed llama-cpp-python's llama.cpp."""
    version = importlib.metadata.version("llama-cpp-python")
    inside = f"llama_cpp_python-{version}/vendor/llama.cpp/scripts/{COMPARE}"
    kept = USER_CACHE / "llama-scripts" / version / COMPARE
    if kept.exists():
        return kept
    for unpacked in USER_CACHE.glob(f"llama-tools/{version}-*/{inside}"):
        return unpacked
    kept.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
                        f"llama-cpp-python=={version}", "-d", tmp], check=True)
        (sdist,) = Path(tmp).glob("llama_cpp_python-*.tar.gz")
        with tarfile.open(sdist) as tar:
            text = tar.extractfile(inside).read()
    partial = kept.with_suffix(".partial")
    partial.write_bytes(text)
    partial.replace(kept)  # never a half-written script for the next session
    return kept


def run_compare(inputs: list[Path], baseline: str, compare: str, cwd: Path) -> list[dict[str, str]]:
    """Run compare-llama-bench.py on ``inputs``; its table as one dict per row (header -> cell). The
    script cuts every build name to the length of the shortest, so give names of equal length."""
    # several JSON files: the script cannot tell the tool from them (-t); -o tsv is tabulate's format
    cmd = [sys.executable, str(compare_llama_bench()), "-t", "llama-bench", "-b", baseline, "-c", compare,
           "-o", "tsv"]
    for path in inputs:
        cmd += ["-i", str(path)]
    # GitPython, which the script imports, refuses to import without a git binary unless told to be quiet
    env = {**os.environ, "GIT_PYTHON_REFRESH": "quiet"}
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    header, *lines = [line.split("\t") for line in done.stdout.strip().splitlines()]
    return [dict(zip([h.strip() for h in header], [c.strip() for c in line])) for line in lines]
