"""Log-likelihood of answer continuations, the way lm-evaluation-harness scores multiple choice.

The context is decoded once into sequence 0; each choice is scored in sequence 1 after copying
sequence 0's cache into it (llama_memory_seq_cp retags cells in a unified KV cache: no recompute),
so a question with four choices costs one prompt evaluation plus four short continuations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeprof.bench.engine import Context


def log_softmax(logits: np.ndarray) -> np.ndarray:
    x = logits.astype(np.float64)
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


@dataclass(frozen=True)
class ChoiceScore:
    logprob: float  # sum of log P(continuation token | everything before it)
    is_greedy: bool  # every continuation token was the argmax (lm-eval's is_greedy)
    n_tokens: int


def continuation_tokens(ctx: Context, context: str, prefix: list[int], continuation: str) -> list[int]:
    """lm-eval's split: encode context+continuation whole; the continuation is what follows the
    context's own encoding ``prefix`` (so a leading space merges with the word as the tokenizer
    would). Where the boundary merged differently, the continuation is encoded on its own."""
    whole = ctx.model.tokenize(context + continuation, add_special=True)
    if whole[:len(prefix)] != prefix:
        return ctx.model.tokenize(continuation, add_special=False)
    return whole[len(prefix):]


def score_choices(ctx: Context, context: str, continuations: list[str]) -> list[ChoiceScore]:
    prefix = ctx.model.tokenize(context, add_special=True)
    ctx.clear()
    ctx.prefill(prefix, 0, want_logits=True)
    first = log_softmax(ctx.logits())
    return [_continuation(ctx, len(prefix), first, continuation_tokens(ctx, context, prefix, c))
            for c in continuations]


def _continuation(ctx: Context, start: int, first: np.ndarray, cont: list[int]) -> ChoiceScore:
    if not cont:
        return ChoiceScore(0.0, True, 0)
    logprob = float(first[cont[0]])
    greedy = int(first.argmax()) == cont[0]
    if len(cont) > 1:
        ctx.copy_sequence(0, 1)
        ctx.decode(cont[:-1], start, want_logits=True, all_logits=True, seq=1)
        rows = log_softmax(ctx.all_logits(len(cont) - 1))
        for i, token in enumerate(cont[1:]):
            logprob += float(rows[i, token])
            greedy = greedy and int(rows[i].argmax()) == token
    return ChoiceScore(logprob, greedy, len(cont))


def pick(scores: list[ChoiceScore], continuations: list[str]) -> tuple[int, int]:
    """(acc choice, acc_norm choice): acc_norm divides by the continuation's length in bytes (lm-eval)."""
    acc = int(np.argmax([s.logprob for s in scores]))
    norm = int(np.argmax([s.logprob / max(1, len(c.encode("utf-8"))) for s, c in zip(scores, continuations)]))
    return acc, norm
