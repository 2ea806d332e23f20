"""One benchmark cell: warmup, then repetitions of prefill + per-token decode, timed.

Methodology as llama-bench's so numbers line up with it: an untimed warmup, the KV cache
cleared before every repetition, the prompt decoded in n_batch chunks, optional context depth
filled (untimed) before the test, sampling and tokenization timed apart from prefill/decode.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from edgeprof import llamacpp
from edgeprof.bench.engine import Context
from edgeprof.errors import fail


@dataclass(frozen=True)
class Workload:
    n_prompt: int = field(default=512, metadata={"help": "prompt tokens (prefill)"})
    n_gen: int = field(default=128, metadata={"help": "tokens to generate (decode steps)"})
    n_depth: int = field(default=0, metadata={"help": "tokens already in the context before the test"})
    pg: bool = field(default=False, metadata={"help": "llama-bench's pg test: prompt and generation reported "
                                                      "as one rate (measured as always; exports differ)"})
    repetitions: int = field(default=5, metadata={"help": "timed repetitions"})
    warmup: bool = field(default=True, metadata={"help": "one untimed run first"})
    stop_at_eog: bool = field(default=False, metadata={"help": "end generation at an end-of-generation token"})
    seed: int = field(default=42, metadata={"help": "seed for random prompt tokens and sampling"})
    temperature: float = field(default=0.0, metadata={"help": "0 = greedy; above 0, seeded sampling"})
    n_parallel: int = field(default=1, metadata={"help": "sequences decoded together, one token each per step "
                                                         "(users served at once)"})


@dataclass
class Repetition:
    """What one repetition measured (nanoseconds unless named otherwise)."""
    prefill_ns: int = 0
    first_sample_ns: int = 0
    decode_ns: list[int] = field(default_factory=list)  # one entry per decode step
    sample_ns: int = 0  # all later sampling
    total_ns: int = 0  # request start (prompt ready) -> last token sampled
    tokens_generated: int = 0  # over all sequences
    n_parallel: int = 1

    @property
    def ttft_ns(self) -> int:
        return self.prefill_ns + self.first_sample_ns


def random_prompt(n: int, n_vocab: int, seed: int) -> list[int]:
    """Random token ids, as llama-bench uses (speed does not depend on which tokens)."""
    return np.random.default_rng(seed).integers(0, n_vocab, size=n).tolist()


def greedy(ctx: Context) -> int:
    return int(np.argmax(ctx.logits()))


class TokenSampler:
    """Greedy, or softmax sampling at a temperature from a seeded generator (reproducible runs)."""

    def __init__(self, temperature: float, seed: int):
        self.temperature = temperature
        self.rng = np.random.default_rng(seed)

    def __call__(self, ctx: Context) -> int:
        if self.temperature <= 0:
            return greedy(ctx)
        logits = ctx.logits().astype(np.float64)
        # shifted before scaling: a tiny temperature then gives -inf (probability 0), never inf - inf = nan
        with np.errstate(over="ignore"):
            probs = np.exp((logits - logits.max()) / self.temperature)
        return int(self.rng.choice(len(probs), p=probs / probs.sum()))


def run_once(ctx: Context, prompt: list[int], depth: list[int], n_gen: int, stop_at_eog: bool,
             monitor=None, sample=greedy, deadline: Deadline | None = None) -> Repetition:
    rep = Repetition()
    started, pos, token = _prefill(ctx, rep, prompt, depth, monitor, sample)
    _mark(monitor, "decode")
    steps = rep.decode_ns
    sampling = 0
    model = ctx.model
    limit_ns = deadline.at_ns if deadline is not None else _NEVER
    for _ in range(n_gen):
        if stop_at_eog and model.is_eog(token):
            break
        steps.append(ctx.decode_one(token, pos))
        pos += 1
        t0 = time.perf_counter_ns()
        token = sample(ctx)
        now = time.perf_counter_ns()
        sampling += now - t0
        if now > limit_ns:  # the clock just read: the limit costs the loop one comparison
            deadline.expired()
    rep.total_ns = time.perf_counter_ns() - started
    rep.sample_ns = sampling
    rep.tokens_generated = len(steps)
    _mark(monitor, "idle")
    return rep


def _prefill(ctx: Context, rep: Repetition, prompt: list[int], depth: list[int], monitor, sample,
             ) -> tuple[int, int, int]:
    """An empty cache, the depth filled untimed, then the prompt's prefill and first sampling timed
    into ``rep``. Returns (when the request started, the next position, the first token)."""
    ctx.clear()
    pos = 0
    if depth:
        ctx.prefill(depth, 0, want_logits=False)
        pos = len(depth)
    _mark(monitor, "prefill")
    started = time.perf_counter_ns()
    token = 0
    if prompt:
        rep.prefill_ns = ctx.prefill(prompt, pos)
        pos += len(prompt)
        t0 = time.perf_counter_ns()
        token = sample(ctx)
        rep.first_sample_ns = time.perf_counter_ns() - t0
    return started, pos, token


def _mark(monitor, phase: str) -> None:
    if monitor is not None:
        monitor.mark(phase)


_NEVER = 1 << 63  # a perf_counter_ns reading no run reaches: no time limit


class Deadline:
    """A cell's time limit, compared after each decode step with the clock reading the loop already
    takes (one llama_decode is never cut short; a cell without decode steps is not cut)."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.at_ns = time.perf_counter_ns() + int(seconds * 1e9)

    def expired(self) -> None:
        raise fail("cell_timeout", seconds=self.seconds)


def run_parallel(ctx: Context, prompt: list[int], depth: list[int], n_gen: int, n_seq: int, monitor=None,
                 deadline: Deadline | None = None) -> Repetition:
    """``n_seq`` users at once: the prompt decoded once (the prefill a first user waits for) and shared
    with the other sequences (a cache copy, untimed: each would have prefilled its own), then each step
    decodes one token of every sequence in one batch. Greedy; per-token latency is the step time."""
    rep = Repetition(n_parallel=n_seq)
    started, pos, first = _prefill(ctx, rep, prompt, depth, monitor, greedy)
    for seq in range(1, n_seq):
        ctx.copy_sequence(0, seq)
    tokens = [first] * n_seq
    _mark(monitor, "decode")
    limit_ns = deadline.at_ns if deadline is not None else _NEVER
    sampling = 0
    for _ in range(n_gen):
        rep.decode_ns.append(ctx.decode_sequences([([token], pos, seq) for seq, token in enumerate(tokens)]))
        pos += 1
        t0 = time.perf_counter_ns()
        tokens = [ctx.argmax_at(i) for i in range(n_seq)]
        now = time.perf_counter_ns()
        sampling += now - t0
        if now > limit_ns:
            deadline.expired()
    rep.total_ns = time.perf_counter_ns() - started
    rep.sample_ns = sampling
    rep.tokens_generated = n_seq * len(rep.decode_ns)
    _mark(monitor, "idle")
    return rep


def measure(ctx: Context, workload: Workload, prompt: list[int] | None = None, monitor=None,
            deadline: Deadline | None = None) -> list[Repetition]:
    """Warmup (untimed) then ``workload.repetitions`` timed repetitions."""
    n_vocab = ctx.model.n_vocab
    if prompt is None:
        prompt = random_prompt(workload.n_prompt, n_vocab, workload.seed)
    depth = random_prompt(workload.n_depth, n_vocab, workload.seed + 1) if workload.n_depth else []
    with llamacpp.log_off():
        if workload.warmup:
            run_once(ctx, prompt[: ctx.settings.n_batch], [], min(workload.n_gen, 1), False, deadline=deadline)
        if workload.n_parallel > 1:
            return [run_parallel(ctx, prompt, depth, workload.n_gen, workload.n_parallel, monitor, deadline)
                    for _ in range(workload.repetitions)]
        sample = TokenSampler(workload.temperature, workload.seed)
        return [run_once(ctx, prompt, depth, workload.n_gen, workload.stop_at_eog, monitor, sample, deadline)
                for _ in range(workload.repetitions)]
