"""Perplexity and KL-divergence rows: the corpus is tokenized once per vocabulary, the baseline
file's top-k log-probs are computed once and stored, then every model costs one pass."""

from __future__ import annotations

import time
from pathlib import Path

from edgeprof.bench.quality.perplexity import BaselineLogits, evaluate
from edgeprof.bench.quality.session import QualitySession, file_key_of, key_of, open_model
from edgeprof.errors import fail
from edgeprof.model_file import ModelFile


def corpus_text(name: str, session: QualitySession) -> tuple[str, str]:
    """(text, description) of a corpus: a text file, or a task of kind 'text' rendered and joined."""
    path = Path(name)
    if path.is_file():
        return path.read_text(encoding="utf-8", errors="replace"), f"file {path.name}"
    from edgeprof.bench.tasks.data import load
    from edgeprof.bench.tasks.definition import load_task
    from edgeprof.bench.tasks.prompts import context_of

    task = load_task(name)
    if task.kind != "text":
        raise fail("bad_sweep", option="--ppl", detail=f"{name} is a {task.kind} task, not a text corpus")
    data = load(task, session.spec.source, session.spec.folders.get(task.name))
    text = task.prompt.separator.join(context_of(task.prompt, e) for e in data.test.examples)
    return text, f"{task.name} ({data.located.description})"


def _tokens(model, text: str, session: QualitySession) -> list[int]:
    tokens = model.tokenize(text, add_special=True)
    if session.spec.ppl_chunks is not None:
        tokens = tokens[: session.spec.ppl_chunks * session.spec.ppl_ctx]
    if len(tokens) < session.spec.ppl_ctx:
        raise fail("corpus_too_short", what=str(model.path), n_tokens=len(tokens), n_ctx=session.spec.ppl_ctx)
    return tokens


def _measure(session: QualitySession, path: Path, text: str, baseline: BaselineLogits | None):
    model, ctx = open_model(session, path, session.spec.ppl_ctx)
    with model, ctx:
        tokens = _tokens(model, text, session)
        started = time.perf_counter()
        result, record = evaluate(ctx, tokens, session.spec.ppl_ctx, model.bos(), baseline=baseline)
        return result, record, time.perf_counter() - started


def _baseline(session: QualitySession, text: str, corpus: str,
              infos: dict[ModelFile, dict]) -> tuple[BaselineLogits, dict]:
    """The baseline's record, from baselines/ when this file, corpus and window were done before."""
    path = session.spec.kld_baseline
    info = path.info
    key = file_key_of(session, info, corpus=corpus, ppl_ctx=session.spec.ppl_ctx, chunks=session.spec.ppl_chunks)
    stored = session.store.folder / "baselines" / f"{key}.npz"
    if stored.is_file():
        return BaselineLogits.load(stored), info
    _, record, _ = _measure(session, path, text, None)
    record.save(stored)
    return record, info


def measure_perplexity(session: QualitySession, infos: dict[ModelFile, dict]) -> None:
    text, corpus = corpus_text(session.spec.corpus, session)
    baseline, base_info = _baseline(session, text, corpus, infos) if session.spec.kld_baseline else (None, None)
    for path, info in infos.items():
        key = key_of(session, info, corpus=corpus, ppl_ctx=session.spec.ppl_ctx, chunks=session.spec.ppl_chunks,
                     baseline=base_info["sha256"] if base_info else None)
        if key in session.done:
            continue
        is_baseline = base_info is not None and info["sha256"] == base_info["sha256"]
        result, _, seconds = _measure(session, path, text, None if is_baseline else baseline)
        row = session.envelope("perplexity", key, info,
                               {"ppl_ctx": session.spec.ppl_ctx, "chunks": session.spec.ppl_chunks})
        row["corpus"] = corpus
        row["baseline"] = {"file": base_info["file"], "sha256": base_info["sha256"], "level": base_info["level"],
                           "is_self": is_baseline} if base_info else None
        row["metrics"] = result
        row["eval"] = {"seconds": round(seconds, 3), "tokens_per_s": round(result["ppl_tokens"] / seconds, 1)}
        session.record(row)
