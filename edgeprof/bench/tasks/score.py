"""Run a task's examples through one llama.cpp context: one outcome dict per example.

Choice tasks are scored by log-likelihood (``quality.loglik``); generate tasks decode greedily
until a stop sequence, an end-of-generation token or the token limit, then compare the extracted
number with the gold one.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from edgeprof.bench.engine import Context
from edgeprof.bench.measure import greedy
from edgeprof.bench.quality.loglik import PrefixCache, pick, score_choices
from edgeprof.bench.tasks import prompts
from edgeprof.bench.tasks.definition import TaskDef
from edgeprof.bench.tasks.examples import Example
from edgeprof.bench.tasks.metrics import EXTRACTORS

OnOutcome = Callable[[dict], None]


def score_choice(ctx: Context, task: TaskDef, example: Example, context: str, cache: PrefixCache) -> dict:
    continuations = prompts.continuations_of(task.prompt, example)
    scores = score_choices(ctx, context, continuations, cache)
    acc, norm = pick(scores, continuations)
    gold = example.answer
    return {"id": example.id, "group": example.group, "gold": gold, "pred": acc, "pred_norm": norm,
            "acc": int(acc == gold), "acc_norm": int(norm == gold),
            "logprobs": [round(s.logprob, 5) for s in scores]}


def score_generate(ctx: Context, task: TaskDef, example: Example, context: str, cache: PrefixCache) -> dict:
    settings = task.generate
    prompt = ctx.model.tokenize(context, add_special=True)
    room = ctx.settings.n_ctx - settings.max_tokens - 1
    prompt = prompt[-room:] if len(prompt) > room else prompt
    logprobs = cache.extend(ctx, prompt)
    output, tokens = _generate(ctx, logprobs, len(prompt), settings.max_tokens, settings.stop)
    cache.tokens = prompt + tokens  # what sequence 0 now holds
    answer = EXTRACTORS[settings.extract](output)
    return {"id": example.id, "group": example.group, "gold": example.answer, "pred": answer,
            "exact_match": int(answer is not None and answer == example.answer), "output": output,
            "n_generated": len(tokens)}


def _generate(ctx: Context, logprobs: np.ndarray, pos: int, max_tokens: int,
              stop: tuple[str, ...]) -> tuple[str, list[int]]:
    """Greedy decoding; returns the text before the first stop sequence and the tokens decoded."""
    raw, decoded = b"", []
    token = int(logprobs.argmax())
    for _ in range(max_tokens):
        if ctx.model.is_eog(token):
            break
        raw += ctx.model.piece(token)
        text = raw.decode("utf-8", errors="ignore")
        cut = min((text.find(s) for s in stop if s in text), default=-1)
        if cut >= 0:
            return text[:cut], decoded
        ctx.decode_one(token, pos)
        decoded.append(token)
        pos += 1
        token = greedy(ctx)
    return raw.decode("utf-8", errors="ignore"), decoded


SCORERS = {"choice": score_choice, "generate": score_generate}


def score_examples(ctx: Context, task: TaskDef, examples: list[Example], shot_pool: list[Example], shots: int,
        same_pool: bool, on_outcome: OnOutcome) -> PrefixCache:
    """Score every example in order, calling ``on_outcome`` after each; returns the prefix cache
    (its counts say how many prompt tokens were decoded and how many reused)."""
    cache = PrefixCache()
    scorer = SCORERS[task.kind]
    for example in examples:
        chosen = prompts.choose_shots(shot_pool, example, shots, same_pool)
        context = prompts.build(task, example, chosen)
        on_outcome(scorer(ctx, task, example, context, cache))
    return cache

