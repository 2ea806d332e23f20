"""Every `edgeprof` command through click's CliRunner, on real tiny models."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from click.testing import CliRunner
from tiny import TinySpec, build_checkpoint

from edgeprof.cli.main import cli


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_help_is_instant():
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "edgeprof", "convert", "--help"], capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    assert out.returncode == 0 and "SOURCE" in out.stdout
    modules = subprocess.run([sys.executable, "-c", "import sys, edgeprof.cli.main; "
                              "print(sorted(m for m in ('llama_cpp','gguf','numpy','matplotlib','pynvml') "
                              "if m in sys.modules))"],
                             capture_output=True, text=True).stdout.strip()
    assert modules == "[]", f"heavy modules imported at start-up: {modules}"
    assert elapsed < 5  # generous: a cold interpreter on a loaded CI machine


def test_list_levels_names_llama_cpp_levels_and_recipes():
    result = run("convert", "--list-levels")
    assert result.exit_code == 0
    for name in ("Q4_K_M", "Q8_0", "IQ4_XS", "Q2_K", "demo", "common"):
        assert name in result.output


def test_convert_local_checkpoint_then_reuse(tmp_path):
    build_checkpoint(tmp_path / "tinyllama", TinySpec(tied=True))
    first = run("convert", str(tmp_path / "tinyllama"), "--quant", "q4_0,Q8_0", "--out", str(tmp_path / "out"),
                "--no-progress")
    assert first.exit_code == 0, first.output
    for level in ("F16", "Q4_0", "Q8_0"):
        assert (tmp_path / "out" / f"tinyllama-{level}.gguf").is_file()
        assert f"tinyllama-{level}.gguf" in first.output
    assert "reusing" not in first.output
    assert not list((tmp_path / "out").glob("*.partial"))
    second = run("convert", str(tmp_path / "tinyllama"), "--quant", "Q4_0,Q8_0", "--out", str(tmp_path / "out"),
                 "--no-progress")
    assert second.exit_code == 0
    assert second.output.count("reusing") == 3


def test_changed_source_is_converted_again(tmp_path):
    build_checkpoint(tmp_path / "m", TinySpec(tied=True, seed=1))
    run("convert", str(tmp_path / "m"), "--out", str(tmp_path / "out"), "--no-progress")
    build_checkpoint(tmp_path / "m", TinySpec(tied=True, seed=2))
    again = run("convert", str(tmp_path / "m"), "--out", str(tmp_path / "out"), "--no-progress")
    assert again.exit_code == 0 and "reusing" not in again.output


def test_convert_gguf_source_runs_only_the_sweep(tiny_factory, tmp_path):
    _, _, f16 = tiny_factory(TinySpec(tied=True))
    result = run("convert", str(f16), "--recipe", "small", "--out", str(tmp_path / "q"), "--no-progress")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "q").glob("*.gguf")) == sorted(
        f"ckpt-{level}.gguf" for level in ("Q4_K_M", "Q4_K_S", "IQ4_XS", "Q3_K_M", "Q3_K_S", "Q2_K"))


def test_convert_models_file(tmp_path):
    build_checkpoint(tmp_path / "a", TinySpec(tied=True))
    (tmp_path / "models.toml").write_text(
        f'[[models]]\nname = "alpha"\nsource = "{tmp_path / "a"}"\nquant = ["Q4_K_M"]\nouttype = "bf16"\n')
    result = run("convert", "--models", str(tmp_path / "models.toml"), "--out", str(tmp_path / "o"), "--no-progress")
    assert result.exit_code == 0, result.output
    assert {p.name for p in (tmp_path / "o").glob("*.gguf")} == {"alpha-BF16.gguf", "alpha-Q4_K_M.gguf"}


@pytest.mark.parametrize("args, message", [
    (["convert", "nowhere/at-all-local", "--quant", "Q4_K_M"], "nowhere/at-all-local: not in the local hub cache"),
    (["convert", "./missing-dir"], "./missing-dir: no such file or directory"),
    (["convert", "demo", "--quant", "q4_k_mm"], "unknown quantization level 'q4_k_mm' (did you mean 'Q4_K_M'?)"),
    (["convert", "demo", "--quant", "IQ2_XXS"], "IQ2_XXS needs an importance matrix"),
    (["convert", "demo", "--recipe", "comon"], "unknown quantization recipe 'comon' (did you mean 'common'?)"),
])
def test_bad_input_gives_one_line(args, message):
    result = run(*args)
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_usage_errors():
    assert run("convert", "demo", "--quant", "Q4_0", "--recipe", "demo").exit_code == 2
    assert run("convert").exit_code == 2


def test_pickle_checkpoint_is_refused(tmp_path):
    folder = tmp_path / "pickled"
    folder.mkdir()
    (folder / "config.json").write_text('{"architectures": ["LlamaForCausalLM"]}')
    (folder / "pytorch_model.bin").write_bytes(b"\x80\x04not really a pickle")
    result = run("convert", str(folder))
    assert result.exit_code == 1
    assert "pytorch_model.bin: pickle checkpoints" in result.output


def test_unsupported_architecture_lists_supported(tmp_path):
    folder = tmp_path / "gpt"
    folder.mkdir()
    (folder / "config.json").write_text('{"architectures": ["GPTNeoXForCausalLM"]}')
    result = run("convert", str(folder))
    assert result.exit_code == 1
    assert "'GPTNeoXForCausalLM' is not supported; supported: LlamaForCausalLM" in result.output
    assert "Qwen3ForCausalLM" in result.output


def test_debug_env_shows_traceback(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEPROF_DEBUG", "1")
    from edgeprof.errors import EdgeprofError

    with pytest.raises(EdgeprofError):
        run("convert", str(tmp_path / "absent"))


def test_console_script_exit_code(tmp_path):
    out = subprocess.run([sys.executable, "-m", "edgeprof", "convert", str(tmp_path / "absent")],
                         capture_output=True, text=True)
    assert out.returncode == 1
    assert out.stderr.strip().startswith("Error: ") and "absent" in out.stderr
