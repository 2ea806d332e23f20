from __future__ import annotations

import sys
from pathlib import Path

import pytest

from edgeprof import llamacpp

llamacpp.preload()  # before numpy: CUDA builds of libllama crash otherwise (see llamacpp.preload)

sys.path.insert(0, str(Path(__file__).parent))

from tiny import TinySpec, build_checkpoint  # noqa: E402

DEFAULT_SPEC = TinySpec()  # frozen, so one shared default is safe


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory) -> Path:
    """One edgeprof cache for the whole run (the demo checkpoint is rebuilt once, not per test)."""
    return tmp_path_factory.mktemp("edgeprof-cache")


@pytest.fixture(autouse=True)
def isolated_user_state(monkeypatch, session_cache, tmp_path):
    """No test touches the user's caches or the network: private cache dirs, hub offline."""
    monkeypatch.setenv("EDGEPROF_CACHE", str(session_cache))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("EDGEPROF_DEBUG", raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def tiny_factory(tmp_path_factory):
    """Build (once per spec) a tiny checkpoint and convert it; returns (folder, weights, f16 gguf)."""
    built: dict[tuple[str, str], tuple] = {}

    def make(spec: TinySpec = DEFAULT_SPEC, outtype: str = "auto"):
        key = (repr(spec), outtype)
        if key not in built:
            from edgeprof.quantize.pipeline import ConvertOptions, convert

            root = tmp_path_factory.mktemp("tiny")
            weights = build_checkpoint(root / "ckpt", spec)
            rows = convert(str(root / "ckpt"), ConvertOptions(out_dir=root / "out", outtype=outtype, progress=False,
                                                              threads=2), say=lambda _: None)
            built[key] = (root / "ckpt", weights, rows[0].path)
        return built[key]

    return make


@pytest.fixture(scope="session")
def tiny_levels(tiny_factory, tmp_path_factory):
    """The tiny tied-embedding model quantized to ``levels``: {level: path}, F16 included."""
    built: dict[tuple[str, ...], dict[str, Path]] = {}

    def make(*levels: str) -> dict[str, Path]:
        if levels not in built:
            from edgeprof.quantize.pipeline import ConvertOptions, convert

            _, _, f16 = tiny_factory(TinySpec(tied=True))
            rows = convert(str(f16), ConvertOptions(levels=levels, out_dir=tmp_path_factory.mktemp("levels"),
                                                    progress=False, threads=2), say=lambda _: None)
            built[levels] = {"F16": f16, **{r.level: r.path for r in rows if r.level in levels}}
        return built[levels]

    return make
