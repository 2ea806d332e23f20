"""llama.cpp's own convert_hf_to_gguf.py, the reference edgeprof's converter is checked against.

Two halves, so this file runs under either interpreter:

* in edgeprof's venv, ``reference_command()`` finds the converter and its gguf-py in the llama.cpp
  that the installed llama-cpp-python vendors (from benchmarks/llama_tools.py's unpacked sdist when
  it is there, else only the converter's files taken from the sdist, downloaded once), and makes
  the converter's own virtualenv on first use: torch, transformers, sentencepiece, numpy,
  safetensors, protobuf. None of these is an edgeprof dependency; they live only in
  ``<edgeprof cache>/reference-converter-venv``.
* run as a script in that venv, it runs convert_hf_to_gguf.py unchanged, with the vendored gguf-py
  first on the path, with one addition: ``--pre-if-unknown NAME``. The reference picks
  ``tokenizer.ggml.pre`` by hashing how the tokenizer splits a fixed text and refuses tokenizers
  whose hash is not in its table of published models, which every freshly trained tiny tokenizer is.
  The benchmark built those tokenizers and knows which pre-tokenizer they use, so it names it; the
  converter's own answer is used whenever it has one, and the fallback is reported when taken.

    python benchmarks/reference_converter.py --setup     # prints the converter's path (edgeprof's venv)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CONVERTER = "convert_hf_to_gguf.py"
# What the converter imports, as llama.cpp's requirements/requirements-convert_hf_to_gguf.txt lists
# it, except torch: any 2.x CPU build converts alike, and 2.13.0 is the wheel these machines carry
# locally (llama.cpp pins 2.11.0, a multi-GB download). EDGEPROF_REFERENCE_TORCH overrides it.
REQUIREMENTS = [
    os.environ.get("EDGEPROF_REFERENCE_TORCH", "torch==2.13.0"),
    "transformers==4.57.6",
    "numpy~=2.2.6",
    "sentencepiece>=0.1.98,<0.3.0",
    "protobuf>=4.21.0,<5.0.0",
    "safetensors",
]
FALLBACK_MARK = "reference-wrapper: pre-tokenizer not in llama.cpp's hash table; using"
# The parts of llama.cpp the converter needs (taken from the sdist when no unpacked copy exists).
CONVERTER_PARTS = (CONVERTER, "conversion/", "gguf-py/")


# ---- edgeprof's side: find the converter, make its venv ----------------------------------------

def llama_cpp_dir(explicit: Path | None = None) -> Path:
    """A llama.cpp tree holding convert_hf_to_gguf.py, conversion/ and gguf-py/."""
    import importlib.metadata

    from edgeprof.paths import cache_dir

    if explicit is not None:
        if not (explicit / CONVERTER).is_file():
            raise SystemExit(f"{explicit}: no {CONVERTER} there")
        return explicit
    version = importlib.metadata.version("llama-cpp-python")
    inside = f"llama_cpp_python-{version}/vendor/llama.cpp"
    for unpacked in sorted(cache_dir().glob(f"llama-tools/{version}-*/{inside}")):
        if (unpacked / CONVERTER).is_file() and (unpacked / "gguf-py").is_dir():
            return unpacked
    kept = cache_dir() / "llama-converter" / version
    if (kept / CONVERTER).is_file():
        return kept
    _extract_from_sdist(version, inside, kept)
    return kept


def _extract_from_sdist(version: str, inside: str, kept: Path) -> None:
    import shutil
    import tarfile
    import tempfile

    print(f"fetching llama.cpp's converter from the llama-cpp-python {version} sdist", file=sys.stderr)
    partial = kept.with_name(kept.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
                        f"llama-cpp-python=={version}", "-d", tmp], check=True)
        (sdist,) = Path(tmp).glob("llama_cpp_python-*.tar.gz")
        with tarfile.open(sdist) as tar:
            members = [m for m in tar.getmembers() if m.name.startswith(f"{inside}/")
                       and m.name[len(inside) + 1:].startswith(CONVERTER_PARTS)]
            for member in members:
                member.name = member.name[len(inside) + 1:]
            tar.extractall(partial, members=members, filter="data")
    shutil.rmtree(kept, ignore_errors=True)
    partial.rename(kept)  # never a half-extracted tree for the next run


def reference_python() -> Path:
    """The reference venv's interpreter, the venv made (and filled) on first use."""
    from edgeprof.paths import cache_dir

    venv = cache_dir() / "reference-converter-venv"
    python = venv / "bin" / "python"
    marker = venv / "edgeprof-requirements.txt"
    wanted = "\n".join(REQUIREMENTS) + "\n"
    if python.exists() and marker.is_file() and marker.read_text() == wanted:
        return python
    print(f"installing the reference converter's packages into {venv} (once): {' '.join(REQUIREMENTS)}",
          file=sys.stderr)
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *REQUIREMENTS], check=True)
    marker.write_text(wanted)
    return python


def reference_command(source: Path, outtype: str, outfile: Path, llama_cpp: Path,
                      pre_if_unknown: str | None = None) -> tuple[list[str], dict[str, str]]:
    """The command line (and environment) that converts ``source`` with the reference."""
    cmd = [str(reference_python()), str(Path(__file__).resolve()), "--llama-cpp", str(llama_cpp),
           "--", str(source), "--outtype", outtype, "--outfile", str(outfile)]
    if pre_if_unknown:
        cmd[4:4] = ["--pre-if-unknown", pre_if_unknown]
    env = {**os.environ, "PYTHONPATH": str(llama_cpp / "gguf-py")}
    env.pop("NO_LOCAL_GGUF", None)
    return cmd, env


# ---- the reference venv's side: run the converter ----------------------------------------------

def _run_converter(argv: list[str]) -> None:
    import argparse
    import runpy

    parser = argparse.ArgumentParser()
    parser.add_argument("--llama-cpp", type=Path, required=True)
    parser.add_argument("--pre-if-unknown")
    args, rest = parser.parse_known_args(argv)
    rest = rest[1:] if rest[:1] == ["--"] else rest
    root = args.llama_cpp.resolve()
    sys.path[:0] = [str(root / "gguf-py"), str(root)]  # its own gguf-py, and its conversion package
    if args.pre_if_unknown:
        from conversion.base import TextModel

        known = TextModel.get_vocab_base_pre

        def pre_or_named(self, tokenizer) -> str:
            try:
                return known(self, tokenizer)
            except NotImplementedError:
                print(f"{FALLBACK_MARK} {args.pre_if_unknown!r}", file=sys.stderr, flush=True)
                return args.pre_if_unknown

        TextModel.get_vocab_base_pre = pre_or_named
    sys.argv = [str(root / CONVERTER), *rest]
    runpy.run_path(str(root / CONVERTER), run_name="__main__")


if __name__ == "__main__":
    if sys.argv[1:] == ["--setup"]:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        found = llama_cpp_dir()
        reference_python()
        print(found / CONVERTER)
    else:
        _run_converter(sys.argv[1:])
