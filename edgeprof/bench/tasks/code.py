"""Code tasks (HumanEval): the model completes a function, the problem's own tests run it.

The completion is decoded until a stop sequence (the start of the next top-level statement), an
end-of-generation token or the token limit; then ``prompt + completion + test + check(entry_point)``
runs in the sandbox (``edgeprof.bench.sandbox``), one process per program. Greedy decoding gives
pass@1; with ``samples`` > 1 and a temperature, each problem is sampled that many times (seeded by
the problem's id, so every device draws the same) and pass@k is the unbiased estimate
1 - C(n-c, k) / C(n, k) of Chen et al. (2021), averaged over problems.
"""

from __future__ import annotations

import math
import zlib
from collections import Counter

import numpy as np

from edgeprof.bench.engine import Context
from edgeprof.bench.quality.loglik import PrefixCache
from edgeprof.bench.sandbox.runner import Outcome, run_python
from edgeprof.bench.tasks.definition import GenerateDef, TaskDef
from edgeprof.bench.tasks.examples import Example

PASS_AT = (1, 10, 100)  # the k reported, where at least k samples were drawn per problem


def program(example: Example, completion: str) -> str:
    """What runs: the problem's prompt, the model's completion, the tests, the call of ``check``."""
    text = example.text
    return f"{text['prompt']}{completion}\n{text['test']}\ncheck({text['entry_point']})\n"


def score_code(ctx: Context, task: TaskDef, example: Example, context: str, cache: PrefixCache) -> dict:
    settings = task.generate
    prompt, logprobs = cache.prompt(ctx, context, settings.max_tokens)
    rng = np.random.default_rng(zlib.crc32(example.id.encode()))
    completions, generated = [], 0
    for _ in range(settings.samples):
        text, n_tokens = complete(ctx, logprobs, len(prompt), settings, rng)
        ctx.drop(0, len(prompt))  # back to the prompt alone for the next sample
        completions.append(text)
        generated += n_tokens
    cache.tokens = list(prompt)
    runs = [run_python(program(example, c)) for c in completions]
    passed = sum(r.passed for r in runs)
    return {"id": example.id, "group": example.group, "gold": example.answer, "pass@1": passed / len(runs),
            "passed": passed, "samples": len(runs), "completions": completions,
            "results": [_result(r) for r in runs], "isolation": runs[0].isolation, "n_generated": generated}


def _result(run: Outcome) -> dict:
    return {"status": run.status, "reason": run.reason, "seconds": run.seconds}


def complete(ctx: Context, logprobs: np.ndarray, pos: int, settings: GenerateDef,
             rng: np.random.Generator) -> tuple[str, int]:
    """Decode from the prompt's next-token log-probs; returns the text before the first stop
    sequence and the number of tokens decoded."""
    raw, decoded = b"", 0
    token = _pick(logprobs, settings.temperature, rng)
    for _ in range(settings.max_tokens):
        if ctx.model.is_eog(token):
            break
        raw += ctx.model.piece(token)
        text = raw.decode("utf-8", errors="ignore")
        cut = min((text.find(s) for s in settings.stop if s in text), default=-1)
        if cut >= 0:
            return text[:cut], decoded
        ctx.decode_one(token, pos)
        decoded += 1
        pos += 1
        token = _pick(ctx.logits(), settings.temperature, rng)
    return raw.decode("utf-8", errors="ignore"), decoded


def _pick(logits: np.ndarray, temperature: float, rng: np.random.Generator) -> int:
    if temperature <= 0:
        return int(np.argmax(logits))
    scaled = (logits.astype(np.float64) - float(np.max(logits))) / temperature
    probs = np.exp(scaled)
    return int(rng.choice(len(probs), p=probs / probs.sum()))


def pass_at_k(n: int, c: int, k: int) -> float:
    """The chance that at least one of k samples drawn (without replacement) from n, c of them
    correct, passes: 1 - C(n-c, k) / C(n, k), in exact integers."""
    if k > n:
        raise ValueError(f"pass@{k} needs at least {k} samples, got {n}")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def code_metrics(outcomes: list[dict], settings: GenerateDef) -> dict:
    """pass@k for every k the samples allow, each with the standard error of its mean over problems;
    how the programs ended; what the sandbox could enforce."""
    out: dict = {"samples": settings.samples, "temperature": settings.temperature}
    for k in PASS_AT:
        values = [pass_at_k(o["samples"], o["passed"], k) for o in outcomes if o["samples"] >= k]
        if values and len(values) == len(outcomes):
            out[f"pass@{k}"] = float(np.mean(values))
            out[f"pass@{k}_stderr"] = float(np.std(values, ddof=1) / math.sqrt(len(values))) if len(values) > 1 \
                else None
    out["programs"] = dict(Counter(r["status"] for o in outcomes for r in o["results"]))
    isolations = [o.get("isolation") or {} for o in outcomes]
    out["sandbox"] = isolations[0] if isolations else {}
    if any(i != out["sandbox"] for i in isolations):
        out["sandbox_varied"] = True
    return out
