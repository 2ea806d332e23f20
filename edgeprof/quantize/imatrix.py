"""``convert --imatrix``: an importance matrix computed on the model's unquantized file.

It runs llama-imatrix's procedure on llama.cpp itself: the corpus is tokenized (special tokens
added, none parsed), cut into chunks of ``ctx`` tokens, each chunk decoded from an empty KV cache
with BOS as its first token and every position's logits requested; the collector
(``imatrix_collect``) sums the squared activations entering each weight. The matrix is written
beside the GGUF files in llama.cpp's GGUF imatrix format with a record ``<file>.json``; a matrix
already made from the same unquantized file (sha256), corpus and settings is reused.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from edgeprof.errors import fail
from edgeprof.progress import Say, quiet


@dataclass(frozen=True)
class ImatrixCorpus:
    name: str = field(metadata={"help": "the dataset name recorded in the matrix and the quantized files"})
    text: str = field(repr=False, metadata={"help": "the corpus text"})


@dataclass(frozen=True)
class ImatrixOptions:
    corpus: ImatrixCorpus = field(metadata={"help": "text the activations are collected on"})
    ctx: int = field(default=512, metadata={"help": "tokens per chunk (llama-imatrix -c)"})
    chunks: int | None = field(default=None, metadata={"help": "at most this many chunks (default: all)"})


def imatrix_path(out_dir: Path, model_name: str, corpus_name: str) -> Path:
    from edgeprof.paths import slug

    return out_dir / f"{model_name}.imatrix-{slug(corpus_name)}.gguf"


def ensure_imatrix(f16: Path, f16_sha256: str, dest: Path, options: ImatrixOptions, threads: int,
                   progress: bool = True, say: Say = quiet) -> Path:
    """The matrix for ``f16`` at ``dest``: reused when its record matches, else computed."""
    from edgeprof.atomic import atomic_output, atomic_write_text

    key = {"f16_sha256": f16_sha256, "corpus": options.corpus.name, "ctx": options.ctx, "chunks": options.chunks,
           "corpus_sha256": hashlib.sha256(options.corpus.text.encode()).hexdigest()}
    record = dest.with_name(dest.name + ".json")
    if _matches(record, dest, key):
        say(f"reusing {dest} (same {f16.name} and corpus {options.corpus.name})")
        return dest
    from tqdm import tqdm

    from edgeprof.quantize.imatrix_file import write_imatrix

    with tqdm(total=None, unit="chunk", desc="imatrix", disable=not progress or None) as bar:
        def on_chunk(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        collected = collect(f16, options, threads, on_chunk)
    with atomic_output(dest) as tmp:
        write_imatrix(collected, tmp)
    atomic_write_text(record, json.dumps({**key, "size_bytes": dest.stat().st_size,
                                          "entries": len(collected.sums), "chunk_count": collected.chunk_count},
                                         indent=2))
    return dest


def _matches(record: Path, dest: Path, key: dict) -> bool:
    try:
        saved = json.loads(record.read_text())
        return {k: saved.get(k) for k in key} == key and dest.stat().st_size == saved["size_bytes"]
    except (OSError, ValueError, KeyError):
        return False


def collect(f16: Path, options: ImatrixOptions, threads: int,
            on_chunk: Callable[[int, int], None] | None = None):
    """Decode the corpus chunk by chunk through llama.cpp with the collector attached."""
    import llama_cpp

    from edgeprof import llamacpp
    from edgeprof.quantize.imatrix_collect import Collector
    from edgeprof.quantize.imatrix_file import Collected

    llamacpp.init()
    collector = Collector()
    with _loaded(f16) as model, _context(model, f16, options.ctx, threads, collector) as ctx:
        vocab = llama_cpp.llama_model_get_vocab(model)
        tokens = _tokenize(vocab, options.corpus.text)
        if len(tokens) < 2 * options.ctx:
            raise fail("imatrix_corpus_short", corpus=options.corpus.name, n_tokens=len(tokens), ctx=options.ctx)
        n_chunks = len(tokens) // options.ctx
        n_chunks = min(n_chunks, options.chunks) if options.chunks else n_chunks
        bos = int(llama_cpp.llama_vocab_bos(vocab)) if llama_cpp.llama_vocab_get_add_bos(vocab) else None
        for i in range(n_chunks):
            chunk = tokens[i * options.ctx:(i + 1) * options.ctx]
            if bos is not None:
                chunk[0] = bos
            _decode_chunk(ctx, chunk, f16)
            if collector.error is not None:
                raise collector.error
            if on_chunk:
                on_chunk(i + 1, n_chunks)
    if not collector.sums:
        raise fail("imatrix_empty", path=f16)
    return Collected(collector.sums, collector.counts, (options.corpus.name,), n_chunks, options.ctx)


class _loaded:
    def __init__(self, path: Path) -> None:
        import llama_cpp

        from edgeprof import llamacpp

        self.ptr = llama_cpp.llama_model_load_from_file(str(path).encode(), llama_cpp.llama_model_default_params())
        if not self.ptr:
            detail = llamacpp.recent_errors[-1] if llamacpp.recent_errors else "llama.cpp could not load it"
            raise fail("model_load_failed", path=path, detail=detail)

    def __enter__(self):
        return self.ptr

    def __exit__(self, *exc) -> None:
        import llama_cpp

        llama_cpp.llama_model_free(self.ptr)


class _context:
    """A context as llama-imatrix makes one for ``-c ctx -b ctx``: one sequence, every output kept."""

    def __init__(self, model, path: Path, ctx: int, threads: int, collector) -> None:
        import llama_cpp

        from edgeprof import llamacpp

        params = llama_cpp.llama_context_default_params()
        params.n_ctx = params.n_batch = ctx
        params.n_outputs_max = params.n_outputs_max_per_seq = 0
        params.n_threads = params.n_threads_batch = threads
        params.swa_full = False  # llama-imatrix's (common's) default
        params.cb_eval = collector.make_callback()
        params.cb_eval_user_data = None
        self.ptr = llama_cpp.llama_init_from_model(model, params)
        if not self.ptr:
            detail = llamacpp.recent_errors[-1] if llamacpp.recent_errors else "llama.cpp could not create it"
            raise fail("context_failed", path=path, detail=detail)
        self.batch = llama_cpp.llama_batch_init(ctx, 0, 1)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        import llama_cpp

        llama_cpp.llama_batch_free(self.batch)
        llama_cpp.llama_free(self.ptr)


def _tokenize(vocab, text: str) -> list[int]:
    import llama_cpp

    raw = text.encode("utf-8")
    buf = (llama_cpp.llama_token * (len(raw) + 16))()
    n = llama_cpp.llama_tokenize(vocab, raw, len(raw), buf, len(buf), True, False)
    return list(buf[:n])


def _decode_chunk(ctx: _context, chunk: list[int], path: Path) -> None:
    import llama_cpp

    llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(ctx.ptr), True)
    b = ctx.batch
    for i, token in enumerate(chunk):
        b.token[i], b.pos[i], b.n_seq_id[i], b.logits[i] = token, i, 1, 1
        b.seq_id[i][0] = 0
    b.n_tokens = len(chunk)
    if llama_cpp.llama_decode(ctx.ptr, b) != 0:
        raise fail("imatrix_decode_failed", path=path)
