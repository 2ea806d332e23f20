"""A GGUF model file as every stage sees it: its header read once (bounded, checked before llama.cpp
is handed the file) and what result rows record about it. One ``ModelFile`` is made per file per
command and passed along, so the memory guard, the row builder and the loader never read the
header again (a 49k-token vocabulary takes ~170 ms to parse)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from edgeprof.gguf_header import GGUFHeader
from edgeprof.progress import Say, quiet

# Metadata key marking a random-weight file built by `bench --synthetic` (its rows say so).
SYNTHETIC_KEY = "edgeprof.synthetic"


@dataclass(frozen=True, eq=False)  # identity equality: one object per file per command
class ModelFile:
    path: Path
    header: GGUFHeader
    info: dict  # what a result row records about the file: name, level, size, sha256, ...

    def __str__(self) -> str:
        return str(self.path)

    @property
    def metadata(self) -> dict:
        return self.header.metadata


def open_model_file(path: Path) -> ModelFile:
    """Read and check the header of ``path`` (one clear error if it is not a loadable model)."""
    from edgeprof.errors import fail
    from edgeprof.gguf_check import check_loadable

    path = Path(path)
    if not path.exists():
        raise fail("not_found", path=path)
    header = check_loadable(path)
    return ModelFile(path, header, _row_info(path, header))


def open_model_files(paths: Iterable[Path], say: Say = quiet) -> tuple[ModelFile, ...]:
    """Each distinct file once, in the order given. A file named twice, reached through a symbolic
    link, or copied (the same content) would be measured twice under one cell key: it is opened
    once, with a note through ``say``."""
    from edgeprof.errors import fail

    by_path: dict[Path, Path] = {}  # resolved -> as first given (not read again)
    by_content: dict[str, ModelFile] = {}
    for path in paths:
        real = Path(path).resolve()
        if real in by_path:
            say(str(fail("model_given_twice", path=path, first=by_path[real], how="the same file")))
            continue
        by_path[real] = Path(path)
        model = open_model_file(path)
        first = by_content.get(model.info["sha256"])
        if first is not None:
            say(str(fail("model_given_twice", path=path, first=first.path, how="the same content")))
            continue
        by_content[model.info["sha256"]] = model
    return tuple(by_content.values())


def reuse_or_open(path: Path, opened: Iterable[ModelFile]) -> ModelFile:
    """The ModelFile already opened for ``path`` (the same file, by any name), else a new one."""
    for model in opened:
        if model.path.resolve() == Path(path).resolve():
            return model
    return open_model_file(path)


def _row_info(path: Path, header: GGUFHeader) -> dict:
    from edgeprof.hashing import file_sha256
    from edgeprof.levels import name_of_ftype

    meta = header.metadata
    ftype = meta.get("general.file_type")
    return {
        "path": str(path.resolve()), "file": path.name, "name": meta.get("general.name", path.stem),
        "architecture": meta.get("general.architecture"), "sha256": file_sha256(path),
        "size_bytes": header.file_size, "n_params": header.n_params,
        "bits_per_weight": round(header.bits_per_weight, 3),
        "level": name_of_ftype(int(ftype)) if ftype is not None else None,
        "synthetic": bool(meta.get(SYNTHETIC_KEY, False)),
    }
