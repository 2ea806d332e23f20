"""Chat-formatted prompts through llama.cpp's own template support (the model's built-in template)."""

from __future__ import annotations

import ctypes

from edgeprof.bench.engine import Model


def apply_chat_template(model: Model, user_message: str) -> str:
    import llama_cpp

    template = llama_cpp.llama_model_chat_template(model.ptr, None)
    message = llama_cpp.llama_chat_message(role=b"user", content=user_message.encode())
    messages = (llama_cpp.llama_chat_message * 1)(message)
    size = len(user_message) * 2 + 1024
    buf = ctypes.create_string_buffer(size)
    n = llama_cpp.llama_chat_apply_template(template, messages, 1, True, buf, size)
    if n > size:
        buf = ctypes.create_string_buffer(n + 1)
        n = llama_cpp.llama_chat_apply_template(template, messages, 1, True, buf, n + 1)
    if n < 0:
        return user_message  # no template llama.cpp knows: use the plain text
    return buf.raw[:n].decode("utf-8", errors="replace")
