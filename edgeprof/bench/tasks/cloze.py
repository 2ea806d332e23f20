"""Cloze choices: each candidate goes into the blank of the text (Winogrande's '_', FewCLUE-CHID's
'#idiom#'), and the filled-in text is scored.

A task file makes a choice task a cloze one with ``prompt.blank`` (the marker) and says which part
of the filled text is scored with ``prompt.scored``:

- ``after`` -- "partial scoring" (Trinh and Le 2018; lm-evaluation-harness scores Winogrande so):
  the context is everything up to the blank with the candidate in it, the scored continuation the
  text after the blank, the same words for every candidate. It asks which candidate makes the rest
  of the sentence likeliest, and gives no credit to a candidate for being a common phrase.
- ``whole`` -- the candidate and the text after it, after the text before the blank. The text
  before the blank is the same for every candidate, so this ranks candidates exactly as the
  log-likelihood of the whole filled-in text does (what OpenCompass compares for CHID). Where the
  blank ends the text there is nothing after it to score, so ``after`` falls back to this.

The candidate is what ``prompt.continuation`` makes of it (``"{choice}"`` for the bare word); a
marker that appears again after the blank takes the same candidate. Few-shot examples are shown
filled in with their gold candidate. Under ``--chat`` the whole text is one user turn and the
scoring stops at the end of the question's text (the template's closing tokens are not scored).
"""

from __future__ import annotations

from collections.abc import Callable

from edgeprof.bench.engine import Context
from edgeprof.bench.quality.loglik import ChoiceScore, PrefixCache, score_pairs
from edgeprof.bench.tasks.definition import PromptDef, TaskDef
from edgeprof.bench.tasks.examples import Example
from edgeprof.bench.tasks.prompts import context_of, continuations_of


def filled(prompt: PromptDef, example: Example) -> str:
    """The example's text with its gold candidate in every blank (a few-shot example)."""
    gold = continuations_of(prompt, example)[int(example.answer)]
    return context_of(prompt, example).replace(prompt.blank, gold)


def build(task: TaskDef, example: Example, shots: list[Example],
          chat: Callable[[list[dict]], str] | None = None) -> str:
    """The full context: description, filled-in shots, then the question with its blank."""
    prompt = task.prompt
    body = [filled(prompt, shot) for shot in shots] + [context_of(prompt, example)]
    text = prompt.description.format(group=example.group) + prompt.separator.join(body)
    return chat([{"role": "user", "content": text}]) if chat else text


def pairs(prompt: PromptDef, example: Example, context: str) -> list[tuple[str, str]]:
    """One (context, scored continuation) per candidate. ``context`` is what ``build`` made; the
    question's own text is found at its end, the blank is its first marker."""
    question = context_of(prompt, example)
    at = context.rfind(question)
    head = context[:at] if at >= 0 else ""
    before, _, after = question.partition(prompt.blank)
    out = []
    for candidate in continuations_of(prompt, example):
        rest = after.replace(prompt.blank, candidate)
        if prompt.scored == "after" and rest.strip():
            out.append(_split(head + before + candidate, rest))
        else:
            out.append(_split(head + before, candidate + rest))
    return out


def _split(context: str, continuation: str) -> tuple[str, str]:
    """Whitespace that ends the context belongs to the continuation (the tokenizer joins a space
    to the word after it); a context left empty keeps its text (nothing to condition on)."""
    kept = context.rstrip()
    if not kept:
        return context + continuation[:1], continuation[1:]
    return kept, context[len(kept):] + continuation


def score(ctx: Context, prompt: PromptDef, example: Example, context: str,
          cache: PrefixCache) -> tuple[list[str], list[ChoiceScore]]:
    """The scored continuations and their log-likelihoods, one per candidate."""
    chosen = pairs(prompt, example, context)
    return [continuation for _, continuation in chosen], score_pairs(ctx, chosen, cache)
