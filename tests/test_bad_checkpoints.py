"""Broken Hugging Face checkpoints through the command line: each is one line that names the file
and the problem, exit code 1, no traceback, and no GGUF written."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner
from safetensors_bytes import read_header, rewrite
from tiny import TinySpec, build_checkpoint

from edgeprof.cli.main import cli


def _edit_header(edit):
    def apply(folder):
        path = folder / "model.safetensors"
        header, data = read_header(path)
        edit(header)
        rewrite(path, header, data)
    return apply


def _edit_json(name, edit):
    def apply(folder):
        data = json.loads((folder / name).read_text())
        edit(data)
        (folder / name).write_text(json.dumps(data))
    return apply


def _write(name, text):
    return lambda folder: (folder / name).write_text(text)


def _truncate(folder):
    path = folder / "model.safetensors"
    path.write_bytes(path.read_bytes()[:-1000])


def _header_beyond(folder):
    path = folder / "model.safetensors"
    path.write_bytes((10**9).to_bytes(8, "little") + path.read_bytes()[8:])


def _overlap(header):
    a, b = sorted(n for n in header if header[n].get("shape") == [256])[:2]
    header[b]["data_offsets"] = header[a]["data_offsets"]


CASES = {
    # case: (how to break the checkpoint, the file the line names, what it says)
    "truncated weights": (_truncate, "model.safetensors", "not a valid safetensors file"),
    "header past the end": (_header_beyond, "model.safetensors", "header length 1000000000 runs past the end"),
    "overlapping tensors": (_edit_header(_overlap), "model.safetensors", "overlap"),
    "offsets out of range": (_edit_header(lambda h: h["model.norm.weight"].update(data_offsets=[0, 1 << 40])),
                             "model.safetensors", "lie outside the file"),
    "bytes not dtype x shape": (_edit_header(lambda h: h["model.norm.weight"].update(shape=[255])),
                                "model.safetensors", "holds 512 bytes"),
    "unknown dtype": (_edit_header(lambda h: h["model.norm.weight"].update(dtype="F8_E9M9")),
                      "model.safetensors", "unknown dtype 'F8_E9M9'"),
    "shape against config.json": (_edit_json("config.json", lambda c: c.update(intermediate_size=640)),
                                  "model.safetensors", "config.json implies"),
    "missing config.json": (lambda f: (f / "config.json").unlink(), "ckpt", "no config.json here"),
    "malformed config.json": (_write("config.json", "{not json"), "config.json", "not valid JSON"),
    "unknown architecture": (_edit_json("config.json", lambda c: c.update(architectures=["MambaForCausalLM"])),
                             "config.json", "architecture 'MambaForCausalLM' is not supported"),
    "config lacks a key": (_edit_json("config.json", lambda c: c.pop("num_hidden_layers")), "config.json",
                           "lacks 'num_hidden_layers'"),
    "no tokenizer": (lambda f: (f / "tokenizer.json").unlink(), "ckpt", "no tokenizer.json or tokenizer.model"),
    "malformed tokenizer.json": (_write("tokenizer.json", '{"model": '), "tokenizer.json", "not valid JSON"),
    "vocab_size against embeddings": (_edit_json("config.json", lambda c: c.update(vocab_size=100)),
                                      "model.safetensors", "config.json implies [100, 256]"),
    "tokenizer larger than config": (_edit_json("tokenizer.json", lambda t: t["model"]["vocab"].update(
        {f"extra{i}": 5000 + i for i in range(50)})), "ckpt", "tokens but config.json says vocab_size=636"),
    "malformed tokenizer_config.json": (_write("tokenizer_config.json", "[1, 2"), "tokenizer_config.json",
                                        "not valid JSON"),
    "missing shard": (None, "model.safetensors.index.json", "names shard 'model-00002-of-00002.safetensors'"),
}


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    root = tmp_path_factory.mktemp("pristine")
    build_checkpoint(root / "ckpt", TinySpec(tied=True))
    build_checkpoint(root / "sharded", TinySpec(shards=2))
    return root


@pytest.mark.parametrize("case", list(CASES))
def test_a_broken_checkpoint_is_one_line_and_no_gguf(case, pristine, tmp_path):
    breaker, named, wanted = CASES[case]
    if breaker is None:  # a shard the index names is gone
        folder = shutil.copytree(pristine / "sharded", tmp_path / "ckpt")
        (folder / "model-00002-of-00002.safetensors").unlink()
    else:
        folder = shutil.copytree(pristine / "ckpt", tmp_path / "ckpt")
        breaker(folder)
    result = CliRunner().invoke(cli, ["convert", str(folder), "--quant", "Q8_0", "--out", str(tmp_path / "out"),
                                      "--no-progress"])
    assert result.exit_code == 1, result.output
    line = result.output.rstrip("\n")
    assert "\n" not in line and line.startswith("Error: ") and "Traceback" not in result.output, result.output
    path = line.removeprefix("Error: ").split(": ", 1)[0]
    assert path.endswith(named), line
    assert wanted in line, line
    assert not list((tmp_path / "out").glob("*.gguf")) if (tmp_path / "out").exists() else True
