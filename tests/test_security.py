"""Security: chat templates run in a sandbox, no code from a model repository ever runs, the hub
token never reaches results, hub downloads are checked against the hashes the hub names them by."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from tiny import CHAT_TEMPLATE, TinySpec, build_checkpoint

from edgeprof.bench.chat import render_chat_template
from edgeprof.cli.main import cli
from edgeprof.errors import EdgeprofError

MARKER = "/tmp/edgeprof-pwned"
HOSTILE_TEMPLATES = {
    "subclasses": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "globals via cycler": "{{ cycler.__init__.__globals__.os.popen('touch " + MARKER + "').read() }}",
    "globals via joiner": "{{ joiner.__init__.__globals__['os'].system('touch " + MARKER + "') }}",
    "read a file": "{% include '/etc/passwd' %}",
    "import a file": "{% import '/etc/passwd' as p %}",
    "mutate": "{% set x = messages.append({'role': 'system'}) %}{{ messages }}",
    "string bomb": "{{ 'A' * 10000000000 }}",
    "list bomb": "{{ [1, 2] * 100000000 }}",
    "power bomb": "{{ 9 ** 9999999 }}",
    "range bomb": "{% for i in range(10000000000) %}x{% endfor %}",
    "center bomb": "{{ 'x' | center(10000000000) }}",
    "indent bomb": "{{ 'a\nb' | indent(10000000000) }}",
    "output bomb": "{% for i in range(100000) %}{{ 'x' * 60000 }}{% endfor %}",
    "format escape": "{{ '{0.__class__.__init__.__globals__}'.format(cycler) }}",
    "raise": "{{ raise_exception('roles must alternate') }}",
}
VARIABLES = {"messages": [{"role": "user", "content": "hi"}], "add_generation_prompt": True, "bos_token": "",
             "eos_token": "</s>"}


@pytest.mark.parametrize("case", list(HOSTILE_TEMPLATES))
def test_a_hostile_chat_template_is_refused_in_one_line(case):
    Path(MARKER).unlink(missing_ok=True)
    with pytest.raises(EdgeprofError) as info:
        render_chat_template(HOSTILE_TEMPLATES[case], dict(VARIABLES, messages=list(VARIABLES["messages"])),
                             "model.gguf")
    assert str(info.value).startswith("model.gguf: its chat template was stopped by the sandbox (")
    assert "\n" not in str(info.value) and "root:" not in str(info.value)
    assert not Path(MARKER).exists()


def test_an_ordinary_template_renders_as_jinja_would():
    assert (render_chat_template(CHAT_TEMPLATE, VARIABLES, "m")
            == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n")


def test_bench_chat_refuses_a_model_whose_template_reads_files(tmp_path):
    """The hostile template travels the real way: tokenizer_config.json -> convert -> GGUF -> bench --chat."""
    from edgeprof.quantize.pipeline import ConvertOptions, convert

    build_checkpoint(tmp_path / "ckpt", TinySpec(tied=True))
    config = json.loads((tmp_path / "ckpt" / "tokenizer_config.json").read_text())
    config["chat_template"] = HOSTILE_TEMPLATES["read a file"]
    (tmp_path / "ckpt" / "tokenizer_config.json").write_text(json.dumps(config))
    (model,) = [r.path for r in convert(str(tmp_path / "ckpt"),
                                        ConvertOptions(out_dir=tmp_path / "out", progress=False),
                                        say=lambda _: None)]
    (tmp_path / "prompt.txt").write_text("hello")
    result = CliRunner().invoke(cli, ["bench", str(model), "--prompt-file", str(tmp_path / "prompt.txt"), "--chat",
                                      "-n", "4", "-r", "1", "--results", str(tmp_path / "r"), "--no-progress"])
    rows = [json.loads(line) for line in (tmp_path / "r" / "bench.jsonl").read_text().splitlines()]
    assert rows[0]["status"] == "failed" and "stopped by the sandbox (TypeError: no loader" in rows[0]["error"]
    assert result.exit_code == 1 and "Error: all 1 cells failed" in result.output
    assert "root:" not in result.output and "Traceback" not in result.output


TOKEN = "hf_SENTINELsentinelSENTINELsentinel0123"


def test_a_hub_model_converts_benches_and_reports_without_the_token_anywhere(tmp_path, monkeypatch, capfd):
    """HF_TOKEN set, a repo from the (offline) hub cache converted, benched and reported: the token is
    in no file written and no line printed; the files record the repo id and the commit."""
    from hub_cache import COMMIT, hub_cache_with

    monkeypatch.setenv("HF_TOKEN", TOKEN)
    build_checkpoint(tmp_path / "ckpt", TinySpec(tied=True))
    hub_cache_with("tiny-org/tiny-llama", sorted((tmp_path / "ckpt").iterdir()), tmp_path / "hub", monkeypatch)
    runner = CliRunner()
    steps = [["convert", "tiny-org/tiny-llama", "--quant", "Q8_0", "--out", str(tmp_path / "models"), "--no-progress"],
             ["bench", str(tmp_path / "models" / "tiny-llama-Q8_0.gguf"), "-p", "8", "-n", "4", "-r", "1",
              "--results", str(tmp_path / "results"), "--no-progress"],
             ["report", "--results", str(tmp_path / "results")]]
    printed = ""
    for args in steps:
        result = runner.invoke(cli, args)
        assert result.exit_code == 0, result.output
        printed += result.output
    printed += "".join(capfd.readouterr())
    assert TOKEN not in printed
    written = [p for p in tmp_path.rglob("*") if p.is_file() and not p.is_relative_to(tmp_path / "hub")]
    assert {"bench.jsonl", "report.html", "report.md", "tiny-llama-Q8_0.gguf"} <= {p.name for p in written}
    assert not [p for p in written if TOKEN.encode() in p.read_bytes()]
    record = json.loads((tmp_path / "models" / "tiny-llama-F16.gguf.json").read_text())
    assert record["origin"] == f"tiny-org/tiny-llama@{COMMIT}"


def test_a_hub_file_whose_bytes_do_not_match_its_hash_is_refused(tmp_path, monkeypatch):
    from hub_cache import hub_cache_with

    build_checkpoint(tmp_path / "ckpt", TinySpec(tied=True))
    snapshot = hub_cache_with("tiny-org/tiny-llama", sorted((tmp_path / "ckpt").iterdir()), tmp_path / "hub",
                              monkeypatch)
    weights = snapshot / "model.safetensors"
    blob = weights.resolve()
    data = bytearray(blob.read_bytes())
    data[-1] ^= 0xFF  # one flipped bit in the last tensor, as a disk error would leave it
    blob.write_bytes(bytes(data))
    result = CliRunner().invoke(cli, ["convert", "tiny-org/tiny-llama", "--out", str(tmp_path / "models")])
    assert result.exit_code == 1
    assert result.output == (f"Error: {weights}: its bytes do not match the hash the hub gave the file (a "
                             f"cut-short download or a disk error); delete {blob} and run again to fetch it afresh\n")
    assert not (tmp_path / "models").exists() or not list((tmp_path / "models").glob("*.gguf"))


def test_a_verified_hub_file_is_not_hashed_again_until_it_changes(tmp_path, monkeypatch):
    from hub_cache import hub_cache_with

    from edgeprof import hub

    build_checkpoint(tmp_path / "ckpt", TinySpec(tied=True))
    snapshot = hub_cache_with("tiny-org/tiny-llama", sorted((tmp_path / "ckpt").iterdir()), tmp_path / "hub",
                              monkeypatch)
    hashed = []
    real_matches = hub._matches
    monkeypatch.setattr(hub, "_matches", lambda path, *a: hashed.append(path.name) or real_matches(path, *a))
    hub.verify_snapshot(snapshot)
    assert "model.safetensors" in hashed
    hashed.clear()
    hub.verify_snapshot(snapshot)  # a resumed run: nothing read again
    assert hashed == []
    blob = (snapshot / "model.safetensors").resolve()
    data = bytearray(blob.read_bytes())
    data[-1] ^= 0xFF
    blob.write_bytes(bytes(data))  # damaged after it was verified: its modification time moved
    with pytest.raises(EdgeprofError, match="do not match the hash the hub gave"):
        hub.verify_snapshot(snapshot)


def test_code_shipped_with_a_model_never_runs(tmp_path):
    """A repo's own Python (auto_map / trust_remote_code) is never imported: converting a supported
    architecture ignores it; an architecture only that code knows is refused by name."""
    from edgeprof.quantize.pipeline import ConvertOptions, convert

    marker = tmp_path / "ran"
    build_checkpoint(tmp_path / "ckpt", TinySpec(tied=True))
    (tmp_path / "ckpt" / "modeling_evil.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    config = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "modeling_evil.EvilForCausalLM"}
    (tmp_path / "ckpt" / "config.json").write_text(json.dumps(config))
    convert(str(tmp_path / "ckpt"), ConvertOptions(out_dir=tmp_path / "out", progress=False), say=lambda _: None)
    config["architectures"] = ["EvilForCausalLM"]
    (tmp_path / "ckpt" / "config.json").write_text(json.dumps(config))
    result = CliRunner().invoke(cli, ["convert", str(tmp_path / "ckpt"), "--out", str(tmp_path / "out2")])
    assert result.exit_code == 1 and "architecture 'EvilForCausalLM' is not supported" in result.output
    assert not marker.exists()


def test_pickle_weights_are_refused(tmp_path):
    """A checkpoint with only pytorch_model.bin (pickle: loading it can run code) is refused by name."""
    build_checkpoint(tmp_path / "ckpt", TinySpec(tied=True))
    (tmp_path / "ckpt" / "model.safetensors").unlink()
    (tmp_path / "ckpt" / "pytorch_model.bin").write_bytes(b"\x80\x04cos\nsystem\n(S'touch /tmp/x'\ntR.")
    result = CliRunner().invoke(cli, ["convert", str(tmp_path / "ckpt"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "pickle checkpoints (.bin/.pt/.pth) can run arbitrary code when loaded" in result.output


class _Hostile:
    """What a malicious .bin carries: unpickling it would call os.system."""

    def __reduce__(self):
        import os

        return (os.system, (f"touch {MARKER}",))


def _pickle_checkpoint(tmp_path, extra=None) -> Path:
    """The tiny checkpoint with its safetensors weights re-saved as pytorch_model.bin."""
    from torch_zip_writer import write_torch_zip

    from edgeprof.quantize.checkpoint import open_checkpoint

    folder = tmp_path / "ckpt"
    build_checkpoint(folder, TinySpec(tied=True))  # F16 weights
    arrays = {name: np.asarray(e.array()) for name, e in open_checkpoint(folder).tensors.items()}
    write_torch_zip(folder / "pytorch_model.bin", arrays, extra)
    (folder / "model.safetensors").rename(tmp_path / "weights.safetensors")
    return folder


def test_pickle_weights_are_read_only_with_allow_pickle_and_give_the_same_gguf(tmp_path):
    """The same weights as pytorch_model.bin and as model.safetensors convert to identical tensors."""
    import shutil

    import gguf

    folder = _pickle_checkpoint(tmp_path)
    refused = CliRunner().invoke(cli, ["convert", str(folder), "--out", str(tmp_path / "a")])
    assert refused.exit_code == 1 and "--allow-pickle" in refused.output
    read = CliRunner().invoke(cli, ["convert", str(folder), "--allow-pickle", "--out", str(tmp_path / "a"),
                                    "--no-progress"])
    assert read.exit_code == 0, read.output
    reference = tmp_path / "st"  # the same checkpoint with its safetensors weights
    shutil.copytree(folder, reference, ignore=shutil.ignore_patterns("*.bin"))
    shutil.copy(tmp_path / "weights.safetensors", reference / "model.safetensors")
    CliRunner().invoke(cli, ["convert", str(reference), "--name", "ckpt", "--out", str(tmp_path / "b"),
                             "--no-progress"])
    a, b = (gguf.GGUFReader(tmp_path / d / "ckpt-F16.gguf") for d in ("a", "b"))
    assert [t.name for t in a.tensors] == [t.name for t in b.tensors]
    assert all(bytes(x.data) == bytes(y.data) for x, y in zip(a.tensors, b.tensors))


def test_a_pickle_that_would_run_code_is_refused_even_with_allow_pickle(tmp_path):
    Path(MARKER).unlink(missing_ok=True)
    folder = _pickle_checkpoint(tmp_path, extra=_Hostile())
    result = CliRunner().invoke(cli, ["convert", str(folder), "--allow-pickle", "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert result.output == (f"Error: {folder / 'pytorch_model.bin'}: the pickle asks for posix.system, which a "
                             "PyTorch state dict never needs; refused (it could run code)\n")
    assert not Path(MARKER).exists()
