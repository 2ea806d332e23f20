"""``convert``: source -> unquantized GGUF -> each requested level, reusing finished outputs.

Every output is written under a temporary name and renamed when complete. Beside each output a
small record ``<file>.json`` says what it was made from (content hash of the source) and how;
a rerun whose source hash and level match an existing output reuses it instead of redoing it.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from edgeprof import __version__
from edgeprof.atomic import atomic_output, atomic_write_text
from edgeprof.paths import all_cores
from edgeprof.progress import Say, quiet
from edgeprof.quantize.imatrix import ImatrixOptions


@dataclass(frozen=True)
class ConvertOptions:
    levels: tuple[str, ...] = field(default=(), metadata={"help": "quantization levels to produce"})
    outtype: str = field(default="auto", metadata={"help": "unquantized type: f16, bf16, f32 or auto"})
    out_dir: Path = field(default=Path("models"), metadata={"help": "where the GGUF files go"})
    threads: int = field(default_factory=all_cores,
                         metadata={"help": "quantization threads (default: all cores)"})
    name: str | None = field(default=None, metadata={"help": "model name for file names"})
    revision: str | None = field(default=None, metadata={"help": "hub revision (branch, tag, commit)"})
    progress: bool = field(default=True, metadata={"help": "show progress bars"})
    allow_pickle: bool = field(default=False, metadata={"help": "read PyTorch .bin weights with the restricted "
                                                                  "reader (tensors only, never code)"})
    imatrix: ImatrixOptions | None = field(default=None, metadata={
        "help": "compute an importance matrix on the unquantized file and quantize every level with it"})


@dataclass(frozen=True)
class ConvertedFile:
    level: str
    path: Path
    size_bytes: int
    bits_per_weight: float
    n_params: int
    seconds: float
    reused: bool
    source_sha256: str
    imatrix: str | None = None  # file name of the importance matrix the level was quantized with


def convert(source_text: str, options: ConvertOptions, say: Say = quiet) -> list[ConvertedFile]:
    """Run the conversion stage; returns one row per file (the unquantized one first)."""
    from edgeprof.quantize.source import identify_source

    source = identify_source(source_text, options.revision, options.name, options.progress, options.allow_pickle)
    options.out_dir.mkdir(parents=True, exist_ok=True)
    if source.kind == "gguf":
        base = _describe_existing(source.path, source_sha256=_gguf_hash(source.path))
    else:
        base = _convert_checkpoint(source, options, say)
    results = [base]
    levels = [level for level in options.levels if level != base.level]
    imatrix = _imatrix(base, source.name, options, say) if options.imatrix and levels else None
    for level in levels:
        results.append(_quantize_level(base, source.name, level, options, say, imatrix))
    return results


def _imatrix(base: ConvertedFile, name: str, options: ConvertOptions, say: Say):
    """The importance matrix of ``base`` (computed, or reused from an earlier run), loaded."""
    from edgeprof.quantize.imatrix import ensure_imatrix, imatrix_path
    from edgeprof.quantize.imatrix_file import read_imatrix

    dest = imatrix_path(options.out_dir, name, options.imatrix.corpus.name)
    path = ensure_imatrix(base.path, _gguf_hash(base.path), dest, options.imatrix, options.threads,
                          options.progress, say)
    return read_imatrix(path)


def _gguf_hash(path: Path) -> str:
    from edgeprof.hashing import file_sha256

    return file_sha256(path)


def _convert_checkpoint(source, options: ConvertOptions, say: Say) -> ConvertedFile:
    from tqdm import tqdm

    from edgeprof.hashing import files_sha256
    from edgeprof.quantize.checkpoint import open_checkpoint
    from edgeprof.quantize.shapes import check_shapes
    from edgeprof.quantize.tokenizer import load_vocab
    from edgeprof.quantize.writer import choose_outtype, nbytes_of, plan_tensors, write_gguf

    ckpt = open_checkpoint(source.path, allow_pickle=options.allow_pickle)
    check_shapes(ckpt)
    out_type = choose_outtype(ckpt, options.outtype)
    dest = options.out_dir / f"{source.name}-{out_type}.gguf"
    source_hash = files_sha256(_source_files(ckpt))
    if reused := _reusable(dest, source_hash, out_type, say):
        return reused
    vocab = load_vocab(ckpt.path, ckpt.hparam("vocab_size"))
    plan = plan_tensors(ckpt, out_type)
    started = time.perf_counter()
    total = sum(nbytes_of(t) for t in plan)
    with tqdm(total=total, unit="B", unit_scale=True, desc=f"convert {out_type}",
              disable=not options.progress or None) as bar, atomic_output(dest) as tmp:
        write_gguf(ckpt, vocab, plan, out_type, tmp, source.name, source_hash, bar.update)
    return _finish(dest, out_type, source_hash, time.perf_counter() - started, origin=_origin(source, ckpt.path))


def _source_files(ckpt) -> list[Path]:
    from edgeprof.hub import CONFIG_FILES

    files = [ckpt.path / n for n in CONFIG_FILES if (ckpt.path / n).is_file()]
    return files + ckpt.weight_files


def _quantize_level(base: ConvertedFile, name: str, level: str, options: ConvertOptions,
                    say: Say, imatrix=None) -> ConvertedFile:
    from tqdm import tqdm

    from edgeprof.quantize.quantizer import quantize_file

    tag = imatrix.path.name if imatrix else None
    dest = options.out_dir / (f"{name}-{level}-imatrix.gguf" if imatrix else f"{name}-{level}.gguf")
    if reused := _reusable(dest, base.source_sha256, level, say, tag):
        return reused
    started = time.perf_counter()
    with tqdm(total=None, unit="tensor", desc=f"quantize {level}", disable=not options.progress or None) as bar, \
            atomic_output(dest) as tmp:
        def on_progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        quantize_file(base.path, tmp, level, options.threads, on_progress, imatrix)
    return _finish(dest, level, base.source_sha256, time.perf_counter() - started, origin=str(base.path),
                   imatrix=_imatrix_record(imatrix))


def _imatrix_record(imatrix) -> dict | None:
    """What the record says of the matrix a level was made with (None: made without one)."""
    if imatrix is None:
        return None
    return {"file": imatrix.path.name, "datasets": list(imatrix.datasets), "chunks": imatrix.chunk_count,
            "sha256": _gguf_hash(imatrix.path)}


def _record_path(gguf_path: Path) -> Path:
    return gguf_path.with_name(gguf_path.name + ".json")


def _reusable(dest: Path, source_hash: str, level: str, say: Say, imatrix: str | None = None) -> ConvertedFile | None:
    """The existing output if its record matches this source, level and importance matrix (by file
    name; the matrix's own record ties it to its source and corpus) and the file is intact."""
    try:
        record = json.loads(_record_path(dest).read_text())
        if (record["source_sha256"], record["level"]) != (source_hash, level):
            return None
        if (record.get("imatrix") or {}).get("file") != imatrix:
            return None
        if dest.stat().st_size != record["size_bytes"]:
            return None
    except (OSError, ValueError, KeyError):
        return None
    say(f"reusing {dest} (same source {source_hash[:12]}, level {level})")
    row = {k: record[k] for k in ConvertedFile.__dataclass_fields__ if k in record}
    return ConvertedFile(**{**row, "path": dest, "reused": True, "imatrix": imatrix})


def _origin(source, path: Path) -> str:
    """Where the weights came from: ``owner/name@commit`` for the hub (never a token), else the folder."""
    return f"{source.repo_id}@{source.revision}" if source.repo_id else str(path)


def _finish(dest: Path, level: str, source_hash: str, seconds: float, origin: str,
            imatrix: dict | None = None) -> ConvertedFile:
    info = gguf_summary(dest)
    row = ConvertedFile(level, dest, dest.stat().st_size, info["bits_per_weight"], info["n_params"],
                        round(seconds, 3), False, source_hash, imatrix["file"] if imatrix else None)
    record = {**asdict(row), "path": dest.name, "origin": origin, "edgeprof_version": __version__,
              "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "imatrix": imatrix}
    record.pop("reused")
    atomic_write_text(_record_path(dest), json.dumps(record, indent=2))
    return row


def _describe_existing(path: Path, source_sha256: str) -> ConvertedFile:
    info = gguf_summary(path)
    return ConvertedFile(info["level"], path, path.stat().st_size, info["bits_per_weight"], info["n_params"],
                         0.0, True, source_sha256)


def gguf_summary(path: Path) -> dict:
    """File type, parameter count and bits per weight (tensor data bits / parameters)."""
    from edgeprof.gguf_header import read_gguf_header
    from edgeprof.levels import name_of_ftype

    header = read_gguf_header(path)
    ftype = header.metadata.get("general.file_type")
    return {"level": name_of_ftype(int(ftype)) if ftype is not None else "?", "n_params": header.n_params,
            "bits_per_weight": round(header.bits_per_weight, 3)}
