"""Cold start: what a user waits for the first answer after a reboot, when the model file is not in
the page cache (an SD card or eMMC makes reading it dominate). With mmap the load itself only maps
the file and the reading happens on first touch, inside the first request's prefill; so the figure
is the whole path: load, context creation, the first request's prefill and first sampling."""

from __future__ import annotations

import time

from edgeprof import llamacpp
from edgeprof.bench.engine import Context, Model
from edgeprof.bench.measure import Repetition, greedy, random_prompt, run_once


def first_request(model: Model, ctx: Context, n_prompt: int, seed: int, context_s: float,
                  page_cache: dict) -> dict:
    """Time the first request after a (cold) load: ``n_prompt`` random tokens, one token sampled."""
    prompt = random_prompt(max(n_prompt, 1), model.n_vocab, seed)
    with llamacpp.log_off():
        rep: Repetition = run_once(ctx, prompt, [], 0, False, sample=greedy)
    ttft_s = rep.ttft_ns / 1e9
    return {"page_cache": page_cache, "load_s": round(model.load_seconds, 4), "context_s": round(context_s, 4),
            "n_prompt": len(prompt), "first_ttft_ms": round(ttft_s * 1e3, 3),
            "to_first_token_s": round(model.load_seconds + context_s + ttft_s, 4)}


def timed_context(model: Model, settings) -> tuple[Context, float]:
    """A context and the seconds llama.cpp took to make it (buffers allocated, KV cache reserved)."""
    started = time.perf_counter()
    ctx = Context(model, settings)
    return ctx, time.perf_counter() - started
