"""Plain-text task files whose layout the suffix does not tell: a task's source names the reader
(``readers = { txt = "bbh_prompt" }``).

- ``bbh_prompt``: BIG-Bench Hard's ``cot-prompts/<subtask>.txt`` (suzgunmirac/BIG-Bench-Hard): a
  canary line and '-----', the subtask's one-line description, then three solved questions, each
  'Q: ...' / 'A: Let's think step by step.' / reasoning ending 'So the answer is X.'
- ``qa_lines``: DeepMind mathematics_dataset v1.0's ``<split>/<module>.txt``: a question line, then
  its answer line, repeated.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable

COT_OPENING = "Let's think step by step."
_QUESTION = re.compile(r"(?m)^Q: ")
_SO_THE_ANSWER = re.compile(r"(?m)So the answer is (.+?)\.?$")


def _text(f) -> str:
    return io.TextIOWrapper(f, encoding="utf-8").read().replace("\r\n", "\n")


def bbh_prompt(f) -> list[dict]:
    """One record per solved question: input, target (the answer after 'So the answer is'),
    solution (the reasoning after "Let's think step by step.") and lead (the description and a
    blank line on the first record, '' on the others: it opens the prompt once)."""
    text = _text(f)
    _, canary, body = text.partition("-----\n")
    parts = _QUESTION.split(body if canary else text)
    description, exemplars = parts[0].strip(), parts[1:]
    if not exemplars:
        raise ValueError("no 'Q: ' line: not a BIG-Bench Hard prompt file")
    records = []
    for number, exemplar in enumerate(exemplars, 1):
        question, found, answer = exemplar.partition("\nA: ")
        if not found:
            raise ValueError(f"question {number} has no 'A: ' line")
        answer = answer.rstrip()
        targets = _SO_THE_ANSWER.findall(answer)
        records.append({"input": question.rstrip(), "target": targets[-1] if targets else answer.strip(),
                        "solution": answer.removeprefix(COT_OPENING) if answer.startswith(COT_OPENING)
                        else f" {answer}",
                        "lead": f"{description}\n\n" if number == 1 and description else ""})
    return records


def qa_lines(f) -> list[dict]:
    lines = _text(f).split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if len(lines) % 2:
        raise ValueError(f"line {len(lines)}: a question without its answer line")
    return [{"question": lines[i], "answer": lines[i + 1]} for i in range(0, len(lines), 2)]


TEXT_READERS: dict[str, Callable] = {"bbh_prompt": bbh_prompt, "qa_lines": qa_lines}
