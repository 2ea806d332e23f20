"""Running the real llama.cpp on test files (through llama-cpp-python)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def load(path: Path, n_ctx: int = 256):
    from llama_cpp import Llama

    from edgeprof import llamacpp

    llamacpp.init()
    return Llama(model_path=str(path), n_ctx=n_ctx, n_threads=2, n_batch=256, logits_all=True, verbose=False)


def logits(path: Path, tokens: list[int]) -> np.ndarray:
    llm = load(path)
    llm.eval(tokens)
    out = np.array(llm.scores[: len(tokens)], dtype=np.float64)
    llm.close()
    return out


def tokenize(path: Path, text: str, special: bool = True) -> list[int]:
    from llama_cpp import Llama

    llm = Llama(model_path=str(path), vocab_only=True, verbose=False)
    ids = llm.tokenize(text.encode("utf-8"), add_bos=False, special=special)
    llm.close()
    return ids


def greedy(path: Path, prompt: str, n: int = 8) -> list[int]:
    """Greedy-generate ``n`` tokens with llama.cpp; returns the generated ids."""
    llm = load(path, n_ctx=128)
    llm.eval(llm.tokenize(prompt.encode(), add_bos=True))
    out = []
    for _ in range(n):
        token = int(np.argmax(llm.scores[llm.n_tokens - 1]))
        out.append(token)
        llm.eval([token])
    llm.close()
    return out
