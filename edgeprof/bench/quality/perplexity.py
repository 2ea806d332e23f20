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

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeprof.bench.engine import Context
from edgeprof.bench.quality.loglik import log_softmax


def windows(tokens: list[int], n_ctx: int, bos: int | None) -> list[list[int]]:
    out = []
    for start in range(0, len(tokens) - n_ctx + 1, n_ctx):
        window = tokens[start:start + n_ctx]
        if bos is not None:
            window = [bos] + window[1:]
        out.append(window)
    return out


def window_logprobs(ctx: Context, window: list[int]) -> np.ndarray:
    """Log-probabilities (scored positions x vocab) for the second half of ``window``."""
    ctx.clear()
    n = len(window)
    first = n // 2
    rows = []
    step = ctx.settings.n_batch
    for begin in range(0, n, step):
        chunk = window[begin:begin + step]
        ctx.decode(chunk, begin, want_logits=True, all_logits=True)
        logits = ctx.all_logits(len(chunk))
        for i in range(len(chunk)):
            pos = begin + i
            if first - 1 <= pos < n - 1:  # position pos predicts token pos + 1
                rows.append(log_softmax(logits[i]))
    return np.array(rows)


@dataclass
class BaselineLogits:
    """What the baseline said about each scored token: top-k ids and log-probs, and the log-prob
    of the token that actually came next."""
    top_ids: np.ndarray  # (n, k) int32
    top_logprobs: np.ndarray  # (n, k) float32
    target_logprob: np.ndarray  # (n,) float64

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".partial.npz")
        np.savez_compressed(tmp, top_ids=self.top_ids, top_logprobs=self.top_logprobs,
                            target_logprob=self.target_logprob)
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> "BaselineLogits":
        with np.load(path) as data:
            return cls(data["top_ids"], data["top_logprobs"], data["target_logprob"])


def _targets(window: list[int]) -> list[int]:
    n = len(window)
    return window[n // 2:]


def evaluate(ctx: Context, tokens: list[int], n_ctx: int, bos: int | None, top_k: int = 32,
             baseline: BaselineLogits | None = None, on_window=None) -> tuple[dict, BaselineLogits]:
    """Perplexity (and KLD when a baseline is given) over ``tokens``; also returns this model's own
    top-k record so it can serve as a baseline."""
    ids, tops, target_lp, kld, same_top = [], [], [], [], []
    offset = 0
    for window in windows(tokens, n_ctx, bos):
        lp = window_logprobs(ctx, window)
        targets = np.array(_targets(window))
        own_target = lp[np.arange(len(targets)), targets]
        top = np.argpartition(-lp, top_k, axis=1)[:, :top_k]
        ids.append(top.astype(np.int32))
        tops.append(np.take_along_axis(lp, top, axis=1).astype(np.float32))
        target_lp.append(own_target)
        if baseline is not None:
            sl = slice(offset, offset + len(targets))
            k, same = _kld(baseline.top_ids[sl], baseline.top_logprobs[sl], lp)
            kld.append(k)
            same_top.append(same)
        offset += len(targets)
        if on_window:
            on_window()
    record = BaselineLogits(np.concatenate(ids), np.concatenate(tops), np.concatenate(target_lp))
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
