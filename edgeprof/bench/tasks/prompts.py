"""Prompts from templates: the context a model reads and the continuation scored for each choice.

Template fields are the example's text fields plus ``{group}`` and ``{lettered}`` (the choices as
'A. ...' lines) in the context, and ``{choice}`` / ``{letter}`` in the continuation. Few-shot
examples are whole solved questions before the one asked, joined by the task's separator. Shots
are the same for every question of a group, so consecutive questions share a token prefix whose
KV cache the scorer keeps (see ``score.PrefixCache``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from edgeprof.bench.tasks.definition import PromptDef, TaskDef
from edgeprof.bench.tasks.examples import LETTERS, Example
from edgeprof.bench.tasks.preprocess import PREPROCESS


def _clean(prompt: PromptDef, text: str) -> str:
    return PREPROCESS[prompt.preprocess](text) if prompt.preprocess else text


def context_of(prompt: PromptDef, example: Example) -> str:
    choices = [_clean(prompt, c) for c in example.choices]
    fields = {k: _clean(prompt, v) for k, v in example.text.items()}
    fields.update(group=example.group, lettered="\n".join(f"{LETTERS[i]}. {c}" for i, c in enumerate(choices)))
    return prompt.context.format(**fields)


def continuations_of(prompt: PromptDef, example: Example) -> list[str]:
    return [prompt.continuation.format(choice=_clean(prompt, c), letter=LETTERS[i], **example.text)
            for i, c in enumerate(example.choices)]


def answer_of(task: TaskDef, example: Example) -> str:
    """A shot's gold answer, as the model should learn to answer."""
    prompt = task.prompt
    if prompt.shot_answer is not None:
        return prompt.shot_answer.format(**example.text)
    if isinstance(example.answer, int):
        return continuations_of(prompt, example)[example.answer]
    return f" {example.answer}"


def solved(task: TaskDef, example: Example) -> str:
    """A shot: the question with its gold answer."""
    return context_of(task.prompt, example) + answer_of(task, example)


def build(task: TaskDef, example: Example, shots: list[Example],
          chat: Callable[[list[dict]], str] | None = None) -> str:
    """The full context for ``example``: description, solved shots, then the question; with ``chat``
    (a model's chat template), the conversation ``turns`` gives, rendered by it."""
    if chat is not None:
        return chat(turns(task, example, shots))
    prompt = task.prompt
    head = prompt.description.format(group=example.group)
    body = [solved(task, shot) for shot in shots] + [context_of(prompt, example)]
    return head + prompt.separator.join(body)


def turns(task: TaskDef, example: Example, shots: list[Example]) -> list[dict]:
    """The question as a chat (OpenCompass's chat models, lm-eval's --apply_chat_template
    --fewshot_as_multiturn): each shot a user turn answered by an assistant turn, then the question
    as the last user turn; the description opens the first user turn."""
    prompt = task.prompt
    messages = []
    for shot in shots:
        messages += [{"role": "user", "content": context_of(prompt, shot)},
                     {"role": "assistant", "content": answer_of(task, shot).strip()}]
    messages.append({"role": "user", "content": context_of(prompt, example)})
    messages[0]["content"] = prompt.description.format(group=example.group) + messages[0]["content"]
    return messages


def for_chat(task: TaskDef) -> TaskDef:
    """The task as chat prompting scores it: each choice is the assistant's reply, so it starts
    right after the opened assistant turn, without the space that follows 'Answer:' in plain text
    (lm-eval drops its target delimiter under a chat template the same way)."""
    prompt = task.prompt
    if prompt is None:
        return task
    return replace(task, prompt=replace(prompt, continuation=prompt.continuation.lstrip()))


def choose_shots(pool: list[Example], example: Example, k: int, same_pool: bool) -> list[Example]:
    """The first ``k`` examples of the example's group (lm-eval takes the dev split's first k).
    Where shots come from the evaluated split itself (no dev split), the question is never its
    own shot."""
    if k == 0:
        return []
    group = [e for e in pool if e.group == example.group] or pool
    if same_pool:
        group = [e for e in group if e.id != example.id]
    return group[:k]
