"""Chat-formatted prompts: the model's own Jinja chat template, rendered in a sandbox.

A chat template is code that came with a file from the internet. It is rendered in Jinja's
immutable sandbox (no attribute starting with an underscore, no mutation of our objects, ranges
capped), with no template loader (``include``/``import`` find nothing, so no file can be read),
with the repeat operators and width-taking filters capped, and with the output capped. A template
the sandbox stops is refused in one line. Models whose GGUF has no template fall back to
llama.cpp's built-in formats.
"""

from __future__ import annotations

import ctypes
import hashlib
import operator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from edgeprof.bench.engine import Model
from edgeprof.errors import fail

MAX_OUTPUT = 1 << 20  # characters: a chat prompt is kilobytes
MAX_REPEAT = 1 << 16  # the most a template may multiply a string or list by
MAX_POWER = 64
TEMPLATE_KEY = "tokenizer.chat_template"
BUILTIN_DEFAULT = "chatml"  # what llama_chat_apply_template uses when the GGUF has no template

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": ...}


@dataclass(frozen=True)
class ChatTemplate:
    """Which template formats a model's chat prompts: what a task row records and its key holds."""
    source: str = field(metadata={"help": "gguf (the file's own Jinja template) or llama.cpp built-in"})
    name: str | None = field(default=None, metadata={"help": "llama.cpp's name of a built-in format"})
    sha256: str | None = field(default=None, metadata={"help": "sha256 of the GGUF's template text"})

    @property
    def key(self) -> str:
        return f"gguf:{self.sha256}" if self.sha256 else f"builtin:{self.name}"

    def as_row(self) -> dict:
        return {k: v for k, v in (("source", self.source), ("name", self.name), ("sha256", self.sha256)) if v}


def template_of(metadata: dict) -> ChatTemplate:
    """The template a file's chat prompts go through, from its header (before llama.cpp loads it)."""
    text = metadata.get(TEMPLATE_KEY)
    if isinstance(text, str) and text:
        return ChatTemplate("gguf", sha256=hashlib.sha256(text.encode()).hexdigest())
    return ChatTemplate("llama.cpp built-in", name=BUILTIN_DEFAULT)


class ChatFormat:
    """A loaded model's chat template, rendering whole conversations (few-shot turns included)."""

    def __init__(self, model: Model):
        self.model = model
        self.text = model.meta(TEMPLATE_KEY) or None
        self.bos, self.eos = _special(model, "bos"), _special(model, "eos")

    def render(self, messages: list[Message], add_generation_prompt: bool = True) -> str:
        """The conversation as the template writes it, the assistant's turn opened."""
        if not self.text:
            return _builtin_template(self.model, messages, add_generation_prompt)
        variables = {"messages": [dict(m) for m in messages], "add_generation_prompt": add_generation_prompt,
                     "bos_token": self.bos, "eos_token": self.eos}
        return render_chat_template(self.text, variables, self.model.path)

    def prompt(self, messages: list[Message]) -> str:
        """``render`` for ``tokenize(add_special=True)``: a BOS the template writes is left to the
        tokenizer when it adds one itself (as llama.cpp's chat code does), so there is one BOS."""
        text = self.render(messages)
        if self.bos and self.model.bos() is not None and text.startswith(self.bos):
            return text[len(self.bos):]
        return text


def apply_chat_template(model: Model, user_message: str) -> str:
    return ChatFormat(model).render([{"role": "user", "content": user_message}])


def render_chat_template(template: str, variables: dict[str, Any], path) -> str:
    """The template's output, or our one-line error naming ``path`` when the sandbox stops it."""
    from jinja2 import TemplateError

    try:
        chunks, size = [], 0
        for chunk in _environment().from_string(template).generate(**variables):
            size += len(chunk)
            if size > MAX_OUTPUT:
                raise fail("chat_template_refused", path=path, detail=f"its output passed {MAX_OUTPUT} characters")
            chunks.append(chunk)
        return "".join(chunks)
    except (TemplateError,  # SecurityError, TemplateNotFound, syntax errors, raise_exception()
            OverflowError, MemoryError, RecursionError, TypeError, ValueError, ZeroDivisionError) as exc:
        raise fail("chat_template_refused", path=path, detail=f"{type(exc).__name__}: {exc}") from None


@lru_cache(maxsize=1)  # one sandbox for every prompt: it holds no state between renders
def _environment():
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class ChatSandbox(ImmutableSandboxedEnvironment):
        intercepted_binops = frozenset({"*", "**"})

        def call_binop(self, context, op: str, left, right):
            if op == "*":
                return _bounded_repeat(left, right)
            if op == "**":
                if isinstance(right, (int, float)) and abs(right) > MAX_POWER:
                    raise OverflowError(f"exponent {right} is larger than {MAX_POWER}")
                return operator.pow(left, right)
            return super().call_binop(context, op, left, right)

    env = ChatSandbox(trim_blocks=True, lstrip_blocks=True, loader=None)
    env.globals["raise_exception"] = _raise_exception
    for name in ("center", "indent"):  # the filters that take a width
        env.filters[name] = _bounded_width(env.filters[name], name)
    return env


def _bounded_repeat(left, right):
    for seq, times in ((left, right), (right, left)):
        if isinstance(seq, (str, list, tuple)) and isinstance(times, int) and times * max(len(seq), 1) > MAX_REPEAT:
            raise OverflowError(f"repeating a sequence {times} times is more than a chat prompt needs")
    return operator.mul(left, right)


def _bounded_width(fn, name: str):
    def bounded(value, width=80, *args, **kwargs):
        if isinstance(width, int) and width > MAX_REPEAT:
            raise OverflowError(f"{name} width {width} is more than a chat prompt needs")
        return fn(value, width, *args, **kwargs)
    return bounded


def _raise_exception(message: str):
    from jinja2 import TemplateError

    raise TemplateError(message)  # templates call this to reject a conversation (e.g. bad roles)


def _special(model: Model, which: str) -> str:
    import llama_cpp

    token = (llama_cpp.llama_vocab_bos if which == "bos" else llama_cpp.llama_vocab_eos)(model.vocab)
    return model.piece(token).decode("utf-8", errors="replace") if token >= 0 else ""


def _builtin_template(model: Model, messages: list[Message], add_generation_prompt: bool = True) -> str:
    """llama.cpp's own formats (chatml, llama2/3, ...); plain text when it has none for this model."""
    import llama_cpp

    template = llama_cpp.llama_model_chat_template(model.ptr, None)
    encoded = [(m["role"].encode(), m["content"].encode()) for m in messages]
    chat = (llama_cpp.llama_chat_message * len(encoded))(
        *[llama_cpp.llama_chat_message(role=role, content=content) for role, content in encoded])
    size = sum(len(c) for _, c in encoded) * 2 + 1024
    buf = ctypes.create_string_buffer(size)
    n = llama_cpp.llama_chat_apply_template(template, chat, len(encoded), add_generation_prompt, buf, size)
    if n > size:
        buf = ctypes.create_string_buffer(n + 1)
        n = llama_cpp.llama_chat_apply_template(template, chat, len(encoded), add_generation_prompt, buf, n + 1)
    if n < 0:
        return "\n\n".join(m["content"] for m in messages)
    return buf.raw[:n].decode("utf-8", errors="replace")
