"""Build llama.cpp's own tools (llama-bench, llama-quantize, ...) from the very sources the
installed llama-cpp-python was built from: its sdist vendors llama.cpp. Built once into
``~/.cache/edgeprof/llama-tools/<version>`` (EDGEPROF_CACHE moves it); CMAKE_ARGS is honoured
(e.g. CMAKE_ARGS="-DGGML_CUDA=on" to match a CUDA build of llama-cpp-python).

    python benchmarks/llama_tools.py llama-bench llama-quantize   # prints the bin folder
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import shlex
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from edgeprof.paths import cache_dir


def build_tools(targets: list[str]) -> Path:
    version = importlib.metadata.version("llama-cpp-python")
    flags = os.environ.get("CMAKE_ARGS", "")
    root = cache_dir() / "llama-tools" / f"{version}-{hashlib.sha256(flags.encode()).hexdigest()[:8]}"
    bin_dir = root / "build" / "bin"
    if all((bin_dir / t).exists() for t in targets):
        return bin_dir
    source = _source(root, version)
    build = root / "build"
    if not (build / "CMakeCache.txt").exists():
        _run(["cmake", "-S", str(source / "vendor" / "llama.cpp"), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release",
              "-DLLAMA_CURL=OFF", "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_SERVER=OFF", *shlex.split(flags)])
    _run(["cmake", "--build", str(build), "-j", str(os.cpu_count() or 2), "--target", *targets])
    return bin_dir


def _source(root: Path, version: str) -> Path:
    source = root / f"llama_cpp_python-{version}"
    if (source / "vendor" / "llama.cpp" / "CMakeLists.txt").exists():
        return source
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        _run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
              f"llama-cpp-python=={version}", "-d", tmp])
        (sdist,) = Path(tmp).glob("llama_cpp_python-*.tar.gz")
        with tarfile.open(sdist) as tar:
            tar.extractall(root, filter="data")
    return source


def _run(cmd: list[str]) -> None:
    print("+", " ".join(cmd), file=sys.stderr)
    subprocess.run(cmd, check=True, stdout=sys.stderr)


if __name__ == "__main__":
    print(build_tools(sys.argv[1:] or ["llama-bench"]))
