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
from edgeprof.bench.quality.loglik import PrefixCache, pick, score_choices, true_mass
from edgeprof.bench.tasks import cloze, prompts
from edgeprof.bench.tasks.answers import NORMALISERS
from edgeprof.bench.tasks.code import score_code
from edgeprof.bench.tasks.definition import TaskDef
from edgeprof.bench.tasks.examples import Example
from edgeprof.bench.tasks.metrics import extract

OnOutcome = Callable[[dict], None]


def score_choice(ctx: Context, task: TaskDef, example: Example, context: str, cache: PrefixCache) -> dict:
    if task.prompt.blank:  # each candidate put into the blank (tasks.cloze)
        continuations, scores = cloze.score(ctx, task.prompt, example, context, cache)
    else:
        continuations = prompts.continuations_of(task.prompt, example)
        scores = score_choices(ctx, context, continuations, cache)
    acc, norm = pick(scores, continuations)
    gold = example.answer
    outcome = {"id": example.id, "group": example.group, "gold": gold, "pred": acc, "pred_norm": norm,
               "acc": int(acc == gold), "acc_norm": int(norm == gold),
               "logprobs": [round(s.logprob, 5) for s in scores]}
    if task.metric == "mc2":  # TruthfulQA MC2: the true answers' probability mass, reported as acc (lm-eval)
        del outcome["acc_norm"], outcome["pred_norm"]
        outcome.update(acc=true_mass(scores, example.golds), golds=list(example.golds))
    return outcome


def score_generate(ctx: Context, task: TaskDef, example: Example, context: str, cache: PrefixCache) -> dict:
    settings = task.generate
    prompt, logprobs = cache.prompt(ctx, context, settings.max_tokens)
    output, tokens = _generate(ctx, logprobs, len(prompt), settings.max_tokens, settings.stop)
    cache.tokens = prompt + tokens  # what sequence 0 now holds
    answer = extract(settings.extract, output, settings.pattern)
    normalise = NORMALISERS[settings.normalise]  # both sides alike: exact match after normalisation
    answer = None if answer is None else normalise(answer)
    gold = normalise(example.answer) if isinstance(example.answer, str) else example.answer
    return {"id": example.id, "group": example.group, "gold": gold, "pred": answer,
            "exact_match": int(answer is not None and answer == gold), "output": output,
            "n_generated": len(tokens)}


def score_translate(ctx: Context, task: TaskDef, example: Example, context: str, cache: PrefixCache) -> dict:
    """A translation: the greedy output up to a stop after its first text (a model that begins its
    answer with a newline is not cut off before it), stripped. chrF and BLEU are corpus-level
    (``translation.corpus_metrics``), so each example keeps its hypothesis and reference."""
    settings = task.generate
    prompt, logprobs = cache.prompt(ctx, context, settings.max_tokens)
    output, tokens = _generate(ctx, logprobs, len(prompt), settings.max_tokens, settings.stop, after_text=True)
    cache.tokens = prompt + tokens
    return {"id": example.id, "group": example.group, "hypothesis": output.strip(), "reference": example.answer,
            "n_generated": len(tokens)}


def _generate(ctx: Context, logprobs: np.ndarray, pos: int, max_tokens: int,
              stop: tuple[str, ...], after_text: bool = False) -> tuple[str, list[int]]:
    """Greedy decoding; returns the text before the first stop sequence and the tokens decoded.
    ``after_text``: stop sequences count only after the first non-space character."""
    raw, decoded = b"", []
    token = int(logprobs.argmax())
    for _ in range(max_tokens):
        if ctx.model.is_eog(token):
            break
        raw += ctx.model.piece(token)
        text = raw.decode("utf-8", errors="ignore")
        start = len(text) - len(text.lstrip()) if after_text else 0
        cut = min((i for i in (text.find(s, start) for s in stop) if i >= 0), default=-1)
        if cut >= 0:
            return text[:cut], decoded
        ctx.decode_one(token, pos)
        decoded.append(token)
        pos += 1
        token = greedy(ctx)
    return raw.decode("utf-8", errors="ignore"), decoded


SCORERS = {"choice": score_choice, "generate": score_generate, "translate": score_translate, "code": score_code}


def score_examples(ctx: Context, task: TaskDef, examples: list[Example], shot_pool: list[Example], shots: int,
        same_pool: bool, on_outcome: OnOutcome, chat: Callable[[list[dict]], str] | None = None) -> PrefixCache:
    """Score every example in order, calling ``on_outcome`` after each; returns the prefix cache
    (its counts say how many prompt tokens were decoded and how many reused). ``chat`` renders each
    prompt as a conversation (a model's chat template: ``chat.ChatFormat.prompt``)."""
    cache = PrefixCache()
    scorer = SCORERS[task.kind]
    for example in examples:
        chosen = prompts.choose_shots(shot_pool, example, shots, same_pool)
        context = (cloze.build if task.prompt and task.prompt.blank else prompts.build)(task, example, chosen, chat)
        on_outcome(scorer(ctx, task, example, context, cache))
    return cache

