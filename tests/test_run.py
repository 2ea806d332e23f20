"""`edgeprof run`: models.toml + a bench suite -> converted files, measurements, figures and a report,
resumable; suites are checked like every other file users write."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from file_errors import error_from
from tiny import TinySpec

from edgeprof.bench.suite import load_suite, suite_names
from edgeprof.cli.main import cli

SUITE = """
description = "tiny: two prompt lengths on every level, one thread count more on Q4_K_M, KLD"

[[scenario]]
name = "levels"
ngl = "auto"
prompt_tokens = [16, 32]
gen_tokens = [8]
repetitions = 2

[[scenario]]
name = "threads"
levels = ["Q4_K_M"]
threads = [1]
prompt_tokens = [32]
gen_tokens = [8]
repetitions = 2

[[scenario]]
name = "gpu-offload"
needs = "gpu"
levels = ["Q4_K_M"]
ngl = [0, "all"]
prompt_tokens = [32]
gen_tokens = [8]

[quality]
ppl = "corpus.txt"
ppl_ctx = 64
ppl_chunks = 2

[budget]
max_kld = 0.5
"""


def write_project(tmp_path: Path, checkpoint: Path) -> Path:
    (tmp_path / "tiny-suite.toml").write_text(SUITE)
    (tmp_path / "corpus.txt").write_text(" ".join(["The quick brown fox jumps over the lazy dog."] * 80))
    models = tmp_path / "models.toml"
    models.write_text(f'output_dir = "out"\nsuite = "tiny-suite.toml"\n\n[[models]]\nname = "tiny"\n'
                      f'source = "{checkpoint}"\nquant = ["Q8_0", "Q4_K_M"]\n')
    return models


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_run_end_to_end_then_resume(tiny_factory, tmp_path):
    checkpoint, _, _ = tiny_factory(TinySpec(tied=True))
    models = write_project(tmp_path, checkpoint)
    result = CliRunner().invoke(cli, ["run", str(models), "--device-name", "test box", "--no-progress"])
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    assert sorted(p.name for p in (out / "models").glob("*.gguf")) == ["tiny-F16.gguf", "tiny-Q4_K_M.gguf",
                                                                       "tiny-Q8_0.gguf"]
    stored = rows(out / "test-box" / "bench.jsonl")
    speed = [r for r in stored if r["kind"] == "speed"]
    assert len(speed) == 3 * 2 + 1  # every level at two prompt lengths, Q4_K_M on one thread more
    assert {r["system"]["device_name"] for r in stored} == {"test box"}
    assert len([r for r in stored if r["kind"] == "perplexity"]) == 3
    report = out / "report" / "report.html"
    assert report.is_file() and (out / "report" / "report.md").is_file()
    assert "test box" in report.read_text() and "mean KLD vs the unquantized file &lt;= 0.5" in report.read_text()
    assert len(list((out / "report" / "figures").glob("*.png"))) >= 7
    assert f"results: {out / 'test-box'}" in result.output and f"report:  {report}" in result.output
    assert ("gpu-offload: skipped, no GPU offload on this device" in result.output
            or "bench gpu-offload:" in result.output)

    again = CliRunner().invoke(cli, ["run", str(models), "--device-name", "test box", "--no-progress"])
    assert again.exit_code == 0, again.output
    assert len(rows(out / "test-box" / "bench.jsonl")) == len(stored)  # nothing measured twice
    assert again.output.count("reusing") == 3 and "skipped 6 cells already" in again.output  # F16 + 2 levels


IMATRIX_SUITE = """
description = "tiny: one short cell per level, perplexity and KLD on two short windows"

[[scenario]]
name = "levels"
prompt_tokens = [16]
gen_tokens = [4]
repetitions = 1

[quality]
ppl = "project/text/notes.txt"
ppl_ctx = 64
ppl_chunks = 2
"""


def test_run_with_an_importance_matrix_then_resume(tiny_factory, tmp_path):
    """models.toml's imatrix keys: the matrix is computed once, every level (IQ2_XS needs it) is made with it
    as `convert --imatrix` makes it, benched, and a rerun reuses the matrix and every file."""
    import gguf
    from tiny import CORPUS

    checkpoint, _, _ = tiny_factory(TinySpec(tied=True))
    project = tmp_path / "project"  # the run starts in tmp_path: the corpus is found from models.toml
    (project / "text").mkdir(parents=True)
    (project / "text" / "notes.txt").write_text("\n\n".join(CORPUS * 30), encoding="utf-8")
    (project / "tiny-suite.toml").write_text(IMATRIX_SUITE)
    models = project / "models.toml"
    models.write_text(f'output_dir = "out"\nsuite = "tiny-suite.toml"\n\n[[models]]\nname = "tiny"\n'
                      f'source = "{checkpoint}"\nquant = ["IQ2_XS", "Q4_K_M"]\nimatrix = "text/notes.txt"\n'
                      f'imatrix_ctx = 64\nimatrix_chunks = 4\n')
    command = ["run", str(models), "--device-name", "box", "--no-progress"]
    result = CliRunner().invoke(cli, command)
    assert result.exit_code == 0, result.output
    folder = project / "out" / "models"
    assert sorted(p.name for p in folder.glob("*.gguf")) == [
        "tiny-F16.gguf", "tiny-IQ2_XS-imatrix.gguf", "tiny-Q4_K_M-imatrix.gguf", "tiny.imatrix-notes.txt.gguf"]
    for level in ("IQ2_XS", "Q4_K_M"):
        fields = {k: f.contents() for k, f in gguf.GGUFReader(folder / f"tiny-{level}-imatrix.gguf").fields.items()}
        assert fields["quantize.imatrix.file"] == "tiny.imatrix-notes.txt.gguf"
        assert (fields["quantize.imatrix.dataset"], fields["quantize.imatrix.chunks_count"]) == ("notes.txt", 4)
    stored = rows(project / "out" / "box" / "bench.jsonl")
    files = ["tiny-F16.gguf", "tiny-IQ2_XS-imatrix.gguf", "tiny-Q4_K_M-imatrix.gguf"]
    for kind in ("speed", "perplexity"):  # benched and evaluated
        assert sorted(r["model"]["file"] for r in stored if r["kind"] == kind) == files

    stamps = {p: p.stat().st_mtime_ns for p in folder.glob("*.gguf")}
    again = CliRunner().invoke(cli, command)
    assert again.exit_code == 0, again.output
    assert again.output.count("reusing") == 4  # the F16 file, the matrix and both levels
    assert {p: p.stat().st_mtime_ns for p in folder.glob("*.gguf")} == stamps
    assert "skipped 3 cells already" in again.output
    assert len(rows(project / "out" / "box" / "bench.jsonl")) == len(stored)  # nothing measured twice


def test_shipped_suites_load():
    assert {"demo", "standard"} <= set(suite_names())
    demo = load_suite("demo")
    assert [s.name for s in demo.scenarios] == ["levels", "threads", "gpu-offload"]
    assert demo.scenarios[2].needs_gpu and demo.max_kld == 0.05
    assert demo.quality.corpus == "gsm8k_text" and demo.quality.kld


@pytest.mark.parametrize("text, message", [
    ('[[scenario]]\nname = "a"\nprompt = [1]\n', "line 1, scenario[0]: unknown key 'prompt' (did you mean "),
    ('[[scenario]]\nname = "a"\nlevels = ["Q9_X"]\n', "line 1, scenario[0]: unknown quantization level 'Q9_X'"),
    ('[[scenario]]\nname = "a"\n\n[quality]\ntasks = ["hellaswg"]\n', "line 4, quality: unknown task 'hellaswg' "
     "(did you mean 'hellaswag'?)"),
    ('[[scenario]]\nname = "a"\nthreads = [-1]\n', "'threads' must be whole numbers (or \"all\"), got -1"),
    ('[quality]\ntasks = "mmlu"\n', "line 1, quality: 'tasks' must be a list, got str"),
    ('[budget]\nmax_kld = "low"\n', "'max_kld' must be a number, got str"),
    ('[[scenario]]\nname = "a"\nneeds = "tpu"\n', "needs must be \"gpu\", got 'tpu'"),
    ("[[scenario]\n", "invalid TOML"),
])
def test_suite_errors_name_file_and_line(tmp_path, text, message):
    error = error_from(load_suite, tmp_path / "bad.toml", text)
    assert error.startswith(str(tmp_path / "bad.toml")) and message in error


def test_unknown_suite_in_models_toml_is_one_line(tmp_path):
    (tmp_path / "models.toml").write_text('suite = "demoo"\n[[models]]\nname = "x"\nsource = "demo"\n')
    result = CliRunner().invoke(cli, ["run", "--no-progress"])
    assert result.exit_code == 1
    assert result.output.strip().startswith("Error: unknown bench suite 'demoo' (did you mean 'demo'?)")
