"""Broken checkpoints get one clear line naming the file; nothing half-written is left behind."""

from __future__ import annotations

import pytest
from safetensors_bytes import read_header, rewrite
from tiny import TinySpec, build_checkpoint

from edgeprof.errors import EdgeprofError
from edgeprof.quantize.checkpoint import open_checkpoint
from edgeprof.quantize.pipeline import ConvertOptions, convert


@pytest.fixture
def ckpt(tmp_path):
    folder = tmp_path / "ckpt"
    build_checkpoint(folder, TinySpec(tied=True))
    return folder


def test_truncated_safetensors(ckpt):
    path = ckpt / "model.safetensors"
    path.write_bytes(path.read_bytes()[:-1000])
    with pytest.raises(EdgeprofError, match=r"model.safetensors: not a valid safetensors file: .*outside the file"):
        open_checkpoint(ckpt)


def test_header_length_beyond_file(ckpt):
    path = ckpt / "model.safetensors"
    raw = path.read_bytes()
    path.write_bytes((10**9).to_bytes(8, "little") + raw[8:])
    with pytest.raises(EdgeprofError, match="header length 1000000000 runs past the end"):
        open_checkpoint(ckpt)


def test_overlapping_offsets(ckpt):
    path = ckpt / "model.safetensors"
    header, data = read_header(path)
    names = sorted(n for n in header if header[n]["shape"] == [256])
    header[names[1]]["data_offsets"] = header[names[0]]["data_offsets"]
    rewrite(path, header, data)
    with pytest.raises(EdgeprofError, match="overlap"):
        open_checkpoint(ckpt)


def test_size_not_matching_dtype_and_shape(ckpt):
    path = ckpt / "model.safetensors"
    header, data = read_header(path)
    header["model.norm.weight"]["shape"] = [255]
    rewrite(path, header, data)
    with pytest.raises(EdgeprofError, match="'model.norm.weight': holds 512 bytes"):
        open_checkpoint(ckpt)


def test_missing_shard(tmp_path):
    folder = tmp_path / "sharded"
    build_checkpoint(folder, TinySpec(shards=2))
    (folder / "model-00002-of-00002.safetensors").unlink()
    with pytest.raises(EdgeprofError, match="names shard 'model-00002-of-00002.safetensors'"):
        open_checkpoint(folder)


def test_malformed_config(ckpt):
    (ckpt / "config.json").write_text("{not json")
    with pytest.raises(EdgeprofError, match=r"config.json: not valid JSON"):
        open_checkpoint(ckpt)


def test_failure_mid_write_leaves_no_output(ckpt, tmp_path, monkeypatch):
    from edgeprof.quantize import writer

    real = writer.iter_chunks
    calls = {"n": 0}

    def failing(tensor):
        calls["n"] += 1
        if calls["n"] == 5:
            raise OSError(28, "No space left on device", "disk")
        yield from real(tensor)

    monkeypatch.setattr(writer, "iter_chunks", failing)
    out = tmp_path / "out"
    with pytest.raises(OSError):
        convert(str(ckpt), ConvertOptions(out_dir=out, progress=False), say=lambda _: None)
    assert list(out.iterdir()) == []


def test_hub_source_from_offline_cache(tmp_path, monkeypatch):
    """A repo id resolves through huggingface-hub's cache when offline (no network in tests)."""
    hub = tmp_path / "hub"
    snapshot = hub / "models--tiny-org--tiny-llama" / "snapshots" / ("a" * 40)
    build_checkpoint(snapshot, TinySpec(tied=True))
    (hub / "models--tiny-org--tiny-llama" / "refs").mkdir()
    (hub / "models--tiny-org--tiny-llama" / "refs" / "main").write_text("a" * 40)
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    import importlib

    import huggingface_hub.constants

    importlib.reload(huggingface_hub.constants)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(hub), raising=False)
    rows = convert("tiny-org/tiny-llama", ConvertOptions(out_dir=tmp_path / "o", progress=False),
                   say=lambda _: None)
    assert rows[0].path.name == "tiny-llama-F16.gguf"
