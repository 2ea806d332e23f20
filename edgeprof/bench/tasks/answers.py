"""Reading a generated answer (the extractors a task file names in ``generate.extract``) and the
normalisation both the answer and the gold one get before they are compared
(``generate.normalise``): exact match means equal after that normalisation, nothing looser."""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from fractions import Fraction


def regex(output: str, pattern: str) -> str | None:
    """The first match of the task's pattern: its first group, or the whole match without one."""
    match = re.search(pattern, output)
    if match is None:
        return None
    found = match.group(1) if match.re.groups else match.group(0)
    return found.strip() if found is not None else None


_LETTER_RULES = (
    re.compile(r"answer is:?\s*\(?([A-E])\b"),  # 'the answer is (B)', 'answer is: C'
    re.compile(r"\(([A-E])\)"),  # '(B)'
    re.compile(r"^\s*([A-E])(?:[.):]|$|\s(?![a-z]))"),  # 'B. Paris', 'C) ...', a bare 'D' (not 'A cat')
    re.compile(r"\b([B-E])\b|\b(A)\b(?!\s+[a-z])"),  # a lone letter ('A' followed by a word is the article)
)


def first_letter(output: str) -> str | None:
    """The option letter (A-E) the output picks: after 'answer is', else the first '(X)', else a
    letter opening the output, else the first letter standing alone."""
    for rule in _LETTER_RULES:
        match = rule.search(output)
        if match:
            return next(group for group in match.groups() if group)
    return None


def exact(output: str) -> str | None:
    """The whole answer (generation stops at the task's stop sequences), trimmed."""
    return output.strip() or None


def normalise_text(text: str) -> str:
    """Runs of whitespace as one space, trimmed, one closing full stop dropped: '(A).' = '(A)'."""
    text = " ".join(text.split())
    return text[:-1].rstrip() if text.endswith(".") else text


_BYTES_LITERAL = re.compile(r"^b(['\"])(.*)\1$", re.S)
_FRACTION = re.compile(r"[-+]?\d+/\d+")
_DECIMAL = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)")


def unwrap_bytes_literal(text: str) -> str:
    """A Python bytes literal's text (b'Solve 2*x = 4 for x.\\n' -> Solve 2*x = 4 for x.); other text trimmed."""
    wrapped = _BYTES_LITERAL.match(text.strip())
    return wrapped.group(2).replace("\\n", "\n").strip() if wrapped else text.strip()


def _numeral(text: str) -> str:
    """'18.00' -> '18', '+0.50' -> '0.5', '6/4' -> '3/2', '4/2' -> '2'; anything else unchanged."""
    try:
        if _FRACTION.fullmatch(text) and not text.endswith("/0"):
            return str(Fraction(text))
        if _DECIMAL.fullmatch(text):
            value = Decimal(text)
            return "0" if value == 0 else format(value.normalize(), "f")
    except (InvalidOperation, ValueError, ZeroDivisionError):
        pass
    return text


def normalise_math(text: str) -> str:
    """No whitespace at all ('2*x + 1' = '2*x+1'), no closing full stop, each comma-separated part
    written as its simplest numeral (decimals and fractions stay what they are: '0.5' != '1/2').
    The hub copy of the dataset writes fields as Python bytes literals (b'-3\\n'): unwrapped."""
    text = "".join(unwrap_bytes_literal(text).split()).removesuffix(".")
    return ",".join(_numeral(part) for part in text.split(","))


NORMALISERS: dict[str, Callable[[str], str]] = {"none": lambda text: text, "text": normalise_text,
                                                "math": normalise_math}
