"""Synthetic models: a GGUF with a real architecture's exact tensor names, shapes and per-tensor
quantization types, filled with random valid blocks, built from config.json (and the tokenizer
where there is one) without downloading or writing any weights.

The per-tensor types come from llama.cpp itself: a weightless F16 skeleton of the model (a sparse
file: the header is real, the data are holes) is "quantized" with ``dry_run``, which runs
llama.cpp's type rules (Q6_K for some tensors in Q4_K_M, fallbacks for widths not divisible by
256, ...) and logs each tensor's type without reading any data. Speed and memory do not depend on
weight values, so a synthetic file answers "how fast, and will it fit" before any download; it is
marked ``edgeprof.synthetic`` so no accuracy is ever measured on it."""

from __future__ import annotations

import hashlib
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeprof.errors import fail
from edgeprof.hub import CONFIG_FILES
from edgeprof.model_file import SYNTHETIC_KEY
from edgeprof.paths import cache_dir, data_dir
from edgeprof.progress import Say, quiet

SOURCE_KEY = "edgeprof.synthetic_source"
FORMAT = 2  # bump when the files written here change, so cached ones are rebuilt
# llama.cpp's dry-run line per tensor: "[  12/ 272] blk.1.attn_q.weight - [...], type = f16, size = ... (q5_0)"
_DRY_LINE = re.compile(r"^\[\s*\d+/\s*\d+\]\s+(\S+)\s+-\s+\[[^\]]*\],"
                       r"\s+type\s*=\s*(\w+),\s+size\s*=[^(\n]*(?:\((\w+)\))?")


@dataclass(frozen=True)
class ShapeSource:
    folder: Path  # config.json, and the tokenizer when it was available
    label: str  # what the user named: repo id, built-in shape, or path
    name: str  # model name for file names


def shape_names() -> list[str]:
    return sorted(p.stem for p in (data_dir("quantize") / "shapes").glob("*.json"))


def find_shape(source: str, revision: str | None = None) -> ShapeSource:
    """A built-in shape name, a config.json or checkpoint folder, or a hub repo id (config and
    tokenizer files only: kilobytes to a few MB)."""
    from edgeprof import hub

    builtin = {n.lower(): n for n in shape_names()}
    path = Path(source)
    if source.lower() in builtin:
        name = builtin[source.lower()]
        folder = cache_dir() / "shapes" / name
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(data_dir("quantize") / "shapes" / f"{name}.json", folder / "config.json")
        return ShapeSource(folder, f"built-in shape {name}", name)
    if path.is_file() and path.name.endswith(".json"):
        return ShapeSource(path.parent, str(path), path.parent.name)
    if path.is_dir():
        return ShapeSource(path, str(path), path.name)
    if hub.looks_like_repo_id(source):
        folder = hub.download(source, revision, patterns=list(CONFIG_FILES))
        return ShapeSource(folder, source, source.split("/")[-1])
    raise fail("synthetic_source", source=source, shapes=", ".join(shape_names()))


def build(source: ShapeSource, levels: list[str], out_dir: Path | None = None, say: Say = quiet,
          threads: int = 1) -> list[Path]:
    """One synthetic GGUF per level (cached: an existing file for the same shape is reused)."""
    from edgeprof.quantize.checkpoint import open_checkpoint
    from edgeprof.quantize.shapes import weightless
    from edgeprof.quantize.writer import plan_tensors

    ckpt = weightless(open_checkpoint(source.folder, weights=False))
    vocab = _vocab(source.folder, ckpt.hparam("vocab_size"))
    plan = plan_tensors(ckpt, "F16")
    key = _key(source.folder)
    folder = (out_dir or cache_dir() / "synthetic") / f"{source.name}-{key}"
    folder.mkdir(parents=True, exist_ok=True)
    skeleton = folder / "skeleton-F16.gguf"
    if not skeleton.exists():
        _write_skeleton(ckpt, vocab, plan, skeleton, source.name)
    paths = []
    for level in levels:
        dest = folder / f"{source.name}-{level}.synthetic.gguf"
        if dest.exists():
            say(f"reusing {dest}")
        else:
            say(f"building {dest.name} (synthetic: {source.label})")
            types = tensor_types(skeleton, level, threads)
            _write_synthetic(ckpt, vocab, plan, types, level, dest, source)
        paths.append(dest)
    return paths


def _key(folder: Path) -> str:
    digest = hashlib.sha256(f"format {FORMAT}".encode())
    for name in CONFIG_FILES:
        if (folder / name).is_file():
            digest.update(name.encode() + (folder / name).read_bytes())
    return digest.hexdigest()[:12]


def _vocab(folder: Path, vocab_size: int):
    from edgeprof.quantize.tokenizer import load_vocab

    if (folder / "tokenizer.json").is_file() or (folder / "tokenizer.model").is_file():
        return load_vocab(folder, vocab_size)
    return placeholder_vocab(vocab_size)


def placeholder_vocab(vocab_size: int):
    """A byte-level vocabulary of the right size for shapes without a tokenizer (built-ins): the
    256 byte tokens, one merge, then numbered placeholders. Speed runs use random token ids."""
    from edgeprof.quantize.tokenizer import CONTROL, NORMAL, Vocab

    bytes_map = _byte_tokens()
    tokens = ["<|endoftext|>"] + bytes_map + ["\u0120\u0120"]
    tokens += [f"<synthetic_{i}>" for i in range(len(tokens), vocab_size)]
    types = [CONTROL] + [NORMAL] * (len(tokens) - 1)
    return Vocab("gpt2", "gpt-2", tokens[:vocab_size], types[:vocab_size], None, ["\u0120 \u0120"])


def _byte_tokens() -> list[str]:
    """GPT-2's byte -> printable character table (the byte-level BPE alphabet)."""
    keep = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
            + list(range(ord("®"), ord("ÿ") + 1)))
    chars, extra = {}, 0
    for b in range(256):
        if b in keep:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return [chars[b] for b in range(256)]


def _write_skeleton(ckpt, vocab, plan, path: Path, name: str) -> None:
    """The F16 file a real conversion would write, with holes instead of weights (no disk used)."""
    import gguf

    from edgeprof.atomic import atomic_output
    from edgeprof.quantize.writer import begin_gguf, iter_chunks, nbytes_of, write_tensors

    raw = {"F32": gguf.GGMLQuantizationType.F32, "F16": gguf.GGMLQuantizationType.F16}
    with atomic_output(path) as tmp:
        writer = begin_gguf(ckpt, vocab, plan, tmp, name, 1)
        write_tensors(writer, [(t.gguf_name, t.shape, raw[t.out_type], nbytes_of(t),
                                (lambda t=t: iter_chunks(t)) if t.source is None else None) for t in plan])


def tensor_types(skeleton: Path, level: str, threads: int = 1) -> dict[str, str]:
    """GGUF tensor name -> ggml type name llama.cpp would give it at ``level`` (its dry run), in the
    order llama.cpp writes them."""
    from edgeprof.quantize.quantizer import llama_quantize

    lines: list[str] = []
    code = llama_quantize(skeleton, skeleton.with_suffix(".dry"), level, threads, lines.append, dry_run=True)
    types = {m.group(1): (m.group(3) or m.group(2)).upper()
             for m in (_DRY_LINE.match(line) for line in "".join(lines).splitlines()) if m}
    if code != 0 or not types:
        raise fail("quantize_failed", path=skeleton, level=level, detail=f"dry run returned {code}")
    return types


def _write_synthetic(ckpt, vocab, plan, types: dict[str, str], level: str, dest: Path, source: ShapeSource) -> None:
    import gguf

    from edgeprof.atomic import atomic_output
    from edgeprof.levels import ftype_of
    from edgeprof.quantize.writer import begin_gguf, iter_chunks, write_tensors

    rng = np.random.default_rng(0)
    tensors = []
    order = list(types)  # llama.cpp's own output order, as its quantizer writes the real file
    for t in sorted(plan, key=lambda t: order.index(t.gguf_name)):
        qtype = gguf.GGMLQuantizationType[types[t.gguf_name]]
        n = int(np.prod(t.shape, dtype=np.int64))
        block, size = gguf.GGML_QUANT_SIZES[qtype]
        tensors.append((t.gguf_name, t.shape, qtype, n // block * size, _filler(t, qtype, n, rng, iter_chunks)))
    with atomic_output(dest) as tmp:
        writer = begin_gguf(ckpt, vocab, plan, tmp, f"{source.name} (synthetic)", ftype_of(level))
        writer.add_bool(SYNTHETIC_KEY, True)
        writer.add_string(SOURCE_KEY, source.label)
        write_tensors(writer, tensors)


def _filler(tensor, qtype, n: int, rng: np.random.Generator, iter_chunks):
    import gguf

    from edgeprof.quantize.blocks import random_blocks, random_floats, spread_of

    if tensor.source is None:  # computed tensors (rope_freqs) are the real ones
        return lambda: iter_chunks(tensor)
    if qtype in (gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16):
        dtype = np.float32 if qtype == gguf.GGMLQuantizationType.F32 else np.float16
        return lambda: random_floats(np.dtype(dtype), tensor.shape, rng, norm=len(tensor.shape) == 1)
    return lambda: random_blocks(int(qtype), n, rng, spread_of(tensor.gguf_name))


def describe(path: Path) -> dict:
    """What a synthetic file says about itself (for rows and refusals)."""
    from edgeprof.gguf_header import read_gguf_header

    meta = read_gguf_header(path).metadata
    return {"synthetic": bool(meta.get(SYNTHETIC_KEY)), "source": meta.get(SOURCE_KEY)}

