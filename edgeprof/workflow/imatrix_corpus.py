"""The corpus an importance matrix is computed on, for `convert --imatrix` and models.toml's
``imatrix`` key: it lives here because a corpus name is a bench task, and the convert stage never
imports the bench stage."""

from __future__ import annotations

from pathlib import Path

from edgeprof.quantize.imatrix import ImatrixCorpus, ImatrixOptions


def imatrix_options(corpus: str, ctx: int = 512, chunks: int | None = None) -> ImatrixOptions:
    """``corpus``: a text file, or a bench task of kind text rendered as llama-perplexity reads it."""
    from edgeprof.errors import fail

    path = Path(corpus)
    if path.is_file():
        text = path.read_text(encoding="utf-8", errors="replace")  # an OSError becomes one line in main
        return ImatrixOptions(ImatrixCorpus(path.name, text), ctx, chunks)
    from edgeprof.bench.tasks.data import load
    from edgeprof.bench.tasks.definition import load_task
    from edgeprof.bench.tasks.prompts import context_of

    task = load_task(corpus)
    if task.kind != "text":
        raise fail("imatrix_corpus_kind", name=corpus, kind=f"a {task.kind}")
    examples = load(task).test.examples
    text = task.prompt.separator.join(context_of(task.prompt, e) for e in examples)
    return ImatrixOptions(ImatrixCorpus(task.name, text), ctx, chunks)


def model_imatrix(spec) -> ImatrixOptions | None:
    """The importance matrix a models.toml entry asks for (its ``imatrix`` keys), or None."""
    return imatrix_options(spec.imatrix, spec.imatrix_ctx, spec.imatrix_chunks) if spec.imatrix else None
