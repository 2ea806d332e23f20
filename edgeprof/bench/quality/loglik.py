"""Log-likelihood of answer continuations, the way lm-evaluation-harness scores multiple choice.

Cost is kept to what the answer needs:
- the context is decoded into sequence 0, and only the part that differs from the previous
  question's context (``PrefixCache``): k-shot prompts of one subject share their shots, so a
  5-shot question costs about as much as a zero-shot one;
- each choice is scored in its own sequence after copying sequence 0 into it (llama_memory_seq_cp
  retags cells in a unified KV cache: no recompute), several per decode with flash attention;
- a one-token continuation (letter answers) needs no decode at all: the context's last logits
  already give its probability.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import groupby

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


@dataclass
class PrefixCache:
    """What sequence 0 of the context holds, so the next prompt decodes only its new tail."""
    tokens: list[int] = field(default_factory=list)
    decoded: int = 0  # prompt tokens actually decoded (the rest were reused)
    reused: int = 0

    def extend(self, ctx: Context, prompt: list[int]) -> np.ndarray:
        """Make sequence 0 hold exactly ``prompt``; return the log-probs after its last token."""
        common = 0
        for a, b in zip(self.tokens, prompt):
            if a != b:
                break
            common += 1
        common = min(common, len(prompt) - 1)  # the last token is decoded again for its logits
        for seq in range(1, ctx.settings.n_seq_max):
            ctx.drop(seq)
        ctx.drop(0, common)
        ctx.prefill(prompt[common:], common, want_logits=True)
        self.tokens = list(prompt)
        self.decoded += len(prompt) - common
        self.reused += common
        return log_softmax(ctx.logits())

    def prompt(self, ctx: Context, context: str, max_tokens: int) -> tuple[list[int], np.ndarray]:
        """A generation's prompt: ``context`` tokenized, its oldest tokens dropped where it and
        ``max_tokens`` to generate would not fit the context, held in sequence 0 (``extend``); returns
        the tokens and the log-probs after the last one."""
        prompt = ctx.model.tokenize(context, add_special=True)
        room = ctx.settings.n_ctx - max_tokens - 1
        prompt = prompt[-room:] if len(prompt) > room else prompt
        return prompt, self.extend(ctx, prompt)

    def forget(self) -> None:
        self.tokens = []


def continuation_tokens(ctx: Context, context: str, prefix: list[int], continuation: str) -> list[int]:
    """lm-eval's split: encode context+continuation whole; the continuation is what follows the
    context's own encoding ``prefix`` (so a leading space merges with the word as the tokenizer
    would). Where the boundary merged differently, the continuation is encoded on its own."""
    whole = ctx.model.tokenize(context + continuation, add_special=True)
    if whole[:len(prefix)] != prefix:
        return ctx.model.tokenize(continuation, add_special=False)
    return whole[len(prefix):]


def score_choices(ctx: Context, context: str, continuations: list[str],
                  cache: PrefixCache | None = None) -> list[ChoiceScore]:
    """Score every continuation after ``context``. A context too long for the window keeps only
    its last tokens (left truncation, as lm-eval) so the prompt and its answers fit."""
    cache = cache or PrefixCache()
    prefix = ctx.model.tokenize(context, add_special=True)
    conts = [continuation_tokens(ctx, context, prefix, c) for c in continuations]
    room = ctx.settings.n_ctx - max(map(len, conts), default=0) * len(conts) - 1
    if len(prefix) > room:
        prefix = prefix[len(prefix) - room:]
    first = cache.extend(ctx, prefix)
    tails = _score_tails(ctx, len(prefix), conts)
    return [_combine(first, cont, tail) for cont, tail in zip(conts, tails)]


# Without flash attention, llama.cpp's logits for a continuation depend on which KV cells it lands in
# (measured on the demo model: the same 13-token answer scored -34.39 in the cells right after the
# prompt and -33.91 two slots further; a relative of ggml-org/llama.cpp#24962). So without flash
# attention each choice is decoded alone, in the cells right after the prompt, which gives exactly
# what a fresh evaluation of prompt + choice gives. With flash attention the result does not depend
# on placement (measured), and short choices are packed into one decode, one sequence each.
def _packing(ctx: Context) -> tuple[int, int]:
    """(sequences, tokens) one decode may hold."""
    if ctx.settings.flash_attn is True:
        return ctx.settings.n_seq_max - 1, ctx.settings.n_batch
    return 1, ctx.settings.n_batch


def _score_tails(ctx: Context, start: int, conts: list[list[int]]) -> list[np.ndarray | None]:
    """Log-prob rows for every continuation token after the first, short choices packed together
    into one decode, each in its own sequence."""
    tails: list[np.ndarray | None] = [None] * len(conts)
    pending = [(i, c[:-1]) for i, c in enumerate(conts) if len(c) > 1]
    max_seqs, budget = _packing(ctx)
    while pending:
        batch, used = [], 0
        while pending and (not batch or used + len(pending[0][1]) <= budget) and len(batch) < max_seqs:
            batch.append(pending.pop(0))
            used += len(batch[-1][1])
        for slot, _ in enumerate(batch):
            ctx.copy_sequence(0, slot + 1)
        ctx.decode_sequences([(tokens, start, slot + 1) for slot, (_, tokens) in enumerate(batch)])
        rows = log_softmax(ctx.all_logits(used))
        offset = 0
        for index, tokens in batch:
            tails[index] = rows[offset:offset + len(tokens)]
            offset += len(tokens)
    return tails


def _combine(first: np.ndarray, cont: list[int], tail: np.ndarray | None) -> ChoiceScore:
    if not cont:
        return ChoiceScore(0.0, True, 0)
    logprob = float(first[cont[0]])
    greedy = int(first.argmax()) == cont[0]
    for i, token in enumerate(cont[1:]):
        logprob += float(tail[i, token])
        greedy = greedy and int(tail[i].argmax()) == token
    return ChoiceScore(logprob, greedy, len(cont))


def score_pairs(ctx: Context, pairs: list[tuple[str, str]], cache: PrefixCache | None = None) -> list[ChoiceScore]:
    """Score (context, continuation) pairs (cloze choices). Consecutive pairs with one context are
    scored together, as ``score_choices`` scores choices, where they all fit in the window beside it;
    else one at a time, so a long text is never cut. Differing contexts share the text before the
    blank, so ``cache`` decodes only what follows it."""
    cache = cache or PrefixCache()
    out: list[ChoiceScore] = []
    for context, group in groupby(pairs, key=lambda pair: pair[0]):
        continuations = [continuation for _, continuation in group]
        if _fit(ctx, context, continuations):
            out += score_choices(ctx, context, continuations, cache)
        else:
            out += [score_choices(ctx, context, [continuation], cache)[0] for continuation in continuations]
    return out


def _fit(ctx: Context, context: str, continuations: list[str]) -> bool:
    """Whether the context and all continuations (each a token longer, for where they join) fit."""
    needed = len(ctx.model.tokenize(context, add_special=True)) + sum(
        len(ctx.model.tokenize(c, add_special=False)) + 1 for c in continuations)
    return len(continuations) == 1 or needed < ctx.settings.n_ctx


def true_mass(scores: list[ChoiceScore], golds: tuple[int, ...]) -> float:
    """TruthfulQA MC2 (lm-eval's semantics): p = exp(log-likelihood) of each answer; the share of
    the true answers in the sum over all answers. Computed in log space, so answers far below the
    float range still count as what they are (tiny), never as 0/0."""
    logprobs = np.array([s.logprob for s in scores], dtype=np.float64)
    top = logprobs.max()
    weights = np.exp(logprobs - top)
    return float(weights[list(golds)].sum() / weights.sum())


def pick(scores: list[ChoiceScore], continuations: list[str]) -> tuple[int, int]:
    """(acc choice, acc_norm choice): acc_norm divides by the continuation's length in bytes (lm-eval)."""
    acc = int(np.argmax([s.logprob for s in scores]))
    norm = int(np.argmax([s.logprob / max(1, len(c.encode("utf-8"))) for s, c in zip(scores, continuations)]))
    return acc, norm
