"""What SOURCE names: the embedded demo, a local checkpoint folder, a .gguf file, or a hub repo id."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgeprof.errors import fail
from edgeprof.quantize.checkpoint import PICKLE_SUFFIXES


@dataclass(frozen=True)
class Source:
    kind: str  # "checkpoint" (HF-format folder) or "gguf"
    path: Path
    name: str  # used for output file names
    repo_id: str | None = None
    revision: str | None = None


def identify_source(text: str, revision: str | None = None, name: str | None = None,
                   progress: bool = True, allow_pickle: bool = False) -> Source:
    from edgeprof import hub
    from edgeprof.paths import safe_name
    from edgeprof.quantize import demo

    if name is not None:  # it becomes part of every output file's name
        safe_name(name, "a model name")
    if text == demo.DEMO_SOURCE:
        return Source("checkpoint", demo.ensure_demo_checkpoint(progress), name or demo.DEMO_NAME)
    path = Path(text).expanduser()
    if path.exists():
        return _local(path, name)
    if hub.looks_like_repo_id(text):
        folder = hub.download(text, revision, hub.CONVERT_FILES + (hub.PICKLE_FILES if allow_pickle else []))
        # The snapshot folder is named by the commit it holds: what "main" meant on the day.
        return Source("checkpoint", folder, name or text.split("/")[-1], repo_id=text, revision=folder.name)
    raise fail("source_missing", source=text)


def _local(path: Path, name: str | None) -> Source:
    if path.is_dir():
        return Source("checkpoint", path, name or path.resolve().name)
    if path.suffix == ".gguf":
        stem = path.stem
        for suffix in ("-F16", "-BF16", "-F32", "-f16", "-bf16", "-f32"):
            stem = stem.removesuffix(suffix)
        return Source("gguf", path, name or stem)
    if path.suffix in PICKLE_SUFFIXES:
        raise fail("pickle_refused", path=path)
    if path.name == "config.json":
        return Source("checkpoint", path.parent, name or path.parent.resolve().name)
    raise fail("not_a_checkpoint", path=path)
