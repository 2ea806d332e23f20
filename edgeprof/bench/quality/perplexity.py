"""Perplexity and KL-divergence against a baseline, by llama-perplexity's method.

The corpus is cut into windows of n_ctx tokens; each window is decoded from an empty cache and
only its second half is scored (every scored token then has at least n_ctx/2 tokens of context).

For KL-divergence the baseline (the f16/bf16 file) is run once and, per scored token, its top-k
log-probabilities are kept (``BaselineLogits``; k=32 by default, a few hundred KB per thousand
tokens instead of the full vocabulary). A candidate's KLD is computed over those k tokens plus one
bucket holding the rest of the probability mass. Merging tokens into one bucket can only lower a
KL-divergence (log-sum inequality), so the figure is a close lower bound of the full-vocabulary
KLD; the same-top-token rate is exact.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeprof.bench.engine import Context
from edgeprof.bench.quality.loglik import log_softmax
from edgeprof.errors import fail


def windows(tokens: list[int], n_ctx: int, bos: int | None) -> list[list[int]]:
    out = []
    for start in range(0, len(tokens) - n_ctx + 1, n_ctx):
        window = tokens[start:start + n_ctx]
        if bos is not None:
            window = [bos] + window[1:]
        out.append(window)
    return out


ROWS_PER_SLICE = 64  # log-softmax this many positions at a time: 64 x vocab float64 stays small


def window_logprobs(ctx: Context, window: list[int]) -> Iterator[np.ndarray]:
    """Log-probabilities of the second half of ``window``, in slices of scored positions x vocab
    (the whole half at once would be n_ctx/2 x vocab float64: 100 MB for a 49k vocab at 512)."""
    ctx.clear()
    n = len(window)
    first = n // 2
    step = ctx.settings.n_batch
    for begin in range(0, n, step):
        chunk = window[begin:begin + step]
        ctx.decode(chunk, begin, want_logits=True, all_logits=True)
        logits = ctx.all_logits(len(chunk))
        # position pos predicts token pos + 1; the scored positions are first - 1 .. n - 2
        lo, hi = max(first - 1 - begin, 0), min(n - 1 - begin, len(chunk))
        for row in range(lo, hi, ROWS_PER_SLICE):
            yield log_softmax(logits[row:min(row + ROWS_PER_SLICE, hi)])


@dataclass
class BaselineLogits:
    """What the baseline said about each scored token: top-k ids and log-probs, and the log-prob
    of the token that actually came next."""
    top_ids: np.ndarray  # (n, k) int32
    top_logprobs: np.ndarray  # (n, k) float32
    target_logprob: np.ndarray  # (n,) float64
    tokens: np.ndarray | None = None  # the corpus as this tokenizer split it: a candidate must match

    def save(self, path: Path) -> None:
        from edgeprof.atomic import atomic_output

        with atomic_output(path) as tmp, open(tmp, "wb") as f:  # a file object: savez adds no .npz to it
            np.savez_compressed(f, top_ids=self.top_ids, top_logprobs=self.top_logprobs,
                                target_logprob=self.target_logprob, tokens=self.tokens)

    @classmethod
    def load(cls, path: Path) -> BaselineLogits:
        with np.load(path) as data:
            tokens = data["tokens"] if "tokens" in data.files and data["tokens"].ndim == 1 else None
            return cls(data["top_ids"], data["top_logprobs"], data["target_logprob"], tokens)


def _targets(window: list[int]) -> list[int]:
    n = len(window)
    return window[n // 2:]


def evaluate(ctx: Context, tokens: list[int], n_ctx: int, bos: int | None, top_k: int = 32,
             baseline: BaselineLogits | None = None, on_window=None) -> tuple[dict, BaselineLogits]:
    """Perplexity (and KLD when a baseline is given) over ``tokens``; also returns this model's own
    top-k record so it can serve as a baseline."""
    ids, tops, target_lp, kld, same_top = [], [], [], [], []
    offset = 0
    cut = windows(tokens, n_ctx, bos)
    n_scored = sum(len(_targets(w)) for w in cut)
    if baseline is not None and baseline.tokens is not None and not np.array_equal(baseline.tokens, tokens):
        raise fail("vocab_differs", path=ctx.model.path)
    if baseline is not None and len(baseline.target_logprob) != n_scored:
        raise fail("baseline_mismatch", path="the KLD baseline",
                   detail=f"{len(baseline.target_logprob)} scored tokens there, {n_scored} here")
    for window in cut:
        targets = _targets(window)
        for lp in window_logprobs(ctx, window):
            here = np.array(targets[:len(lp)])
            targets = targets[len(lp):]
            top = np.argpartition(-lp, top_k, axis=1)[:, :top_k]
            ids.append(top.astype(np.int32))
            tops.append(np.take_along_axis(lp, top, axis=1).astype(np.float32))
            target_lp.append(lp[np.arange(len(here)), here])
            if baseline is not None:
                sl = slice(offset, offset + len(here))
                k, same = _kld(baseline.top_ids[sl], baseline.top_logprobs[sl], lp)
                kld.append(k)
                same_top.append(same)
            offset += len(here)
        if on_window:
            on_window()
    if not target_lp:
        raise fail("corpus_too_short", what="corpus", n_tokens=len(tokens), n_ctx=n_ctx)
    record = BaselineLogits(np.concatenate(ids), np.concatenate(tops), np.concatenate(target_lp),
                            np.asarray(tokens, dtype=np.int32))
    nll = -record.target_logprob
    result = {"ppl": float(np.exp(nll.mean())), "ppl_tokens": int(nll.size),
              "nll_mean": float(nll.mean()), "nll_std_error": float(nll.std(ddof=1) / np.sqrt(nll.size))}
    if baseline is not None:
        k = np.concatenate(kld)
        base_nll = -baseline.target_logprob[: nll.size]
        result.update({"kld_mean": float(k.mean()), "kld_median": float(np.median(k)),
                       "kld_p99": float(np.percentile(k, 99)), "kld_max": float(k.max()),
                       "same_top_token_rate": float(np.concatenate(same_top).mean()),
                       "ppl_baseline": float(np.exp(base_nll.mean())),
                       "ppl_delta": float(np.exp(nll.mean()) - np.exp(base_nll.mean())),
                       "kld_top_k": int(baseline.top_ids.shape[1])})
    return result, record


def _kld(base_ids: np.ndarray, base_lp: np.ndarray, cand_lp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-token KL(baseline || candidate) over the baseline's top-k plus a 'rest' bucket."""
    p = np.exp(base_lp.astype(np.float64))
    q_lp = np.take_along_axis(cand_lp, base_ids.astype(np.int64), axis=1)
    q = np.exp(q_lp)
    kl = (p * (base_lp - q_lp)).sum(axis=1)
    p_rest = np.clip(1.0 - p.sum(axis=1), 1e-12, 1.0)
    q_rest = np.clip(1.0 - q.sum(axis=1), 1e-12, 1.0)
    kl += p_rest * (np.log(p_rest) - np.log(q_rest))
    top_base = base_ids[np.arange(len(base_ids)), base_lp.argmax(axis=1)]
    return np.maximum(kl, 0.0), cand_lp.argmax(axis=1) == top_base
