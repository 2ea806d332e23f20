"""A sweep: the product of every listed setting, run cell by cell into the results store.

The model is reloaded only when a model parameter (file, n_gpu_layers) changes and a context is
made only when a context parameter changes; cells already in the store are skipped unless
``rerun``. One failing cell is recorded as failed and the sweep goes on.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from edgeprof.bench.engine import ContextSettings
from edgeprof.bench.measure import Workload
from edgeprof.errors import fail
from edgeprof.paths import all_cores


@dataclass(frozen=True)
class SweepSpec:
    models: tuple[Path, ...] = field(metadata={"help": "GGUF files to bench"})
    threads: tuple[int, ...] = field(default_factory=lambda: (all_cores(),), metadata={"help": "CPU threads"})
    n_gpu_layers: tuple[int, ...] = field(default=(0,), metadata={"help": "layers offloaded to the GPU; -1 = all"})
    n_prompt: tuple[int, ...] = field(default=(512,), metadata={"help": "prompt lengths (tokens)"})
    n_gen: tuple[int, ...] = field(default=(128,), metadata={"help": "generation lengths (tokens)"})
    n_depth: tuple[int, ...] = field(default=(0,), metadata={"help": "context depths before the test"})
    tests: str = field(default="edgeprof", metadata={"help": "edgeprof: every n_prompt x n_gen x n_depth is one "
                                                             "request (prompt, then generation from where it left "
                                                             "off); llama-bench: llama-bench's tests (see "
                                                             "llama_bench_tests)"})
    n_pg: tuple[tuple[int, int], ...] = field(default=(), metadata={"help": "llama-bench's pg tests: (prompt, "
                                                                           "generation) pairs timed as one"})
    n_parallel: tuple[int, ...] = field(default=(1,), metadata={"help": "sequences decoded together (users "
                                                                        "served at once)"})
    n_batch: tuple[int, ...] = field(default=(2048,), metadata={"help": "logical batch sizes"})
    n_ubatch: tuple[int, ...] = field(default=(512,), metadata={"help": "physical batch sizes"})
    flash_attn: tuple[bool | None, ...] = field(default=(None,), metadata={"help": "flash attention (None = auto)"})
    cache_type: tuple[str, ...] = field(default=("f16",), metadata={"help": "KV cache types (K and V)"})
    n_ctx: int | None = field(default=None, metadata={"help": "context size; default: just enough"})
    repetitions: int = field(default=5, metadata={"help": "timed repetitions per cell"})
    warmup: bool = field(default=True, metadata={"help": "untimed warmup run per cell"})
    prompt_text: str | None = field(default=None, metadata={"help": "real prompt text (else random tokens)"})
    prompt_label: str = field(default="random", metadata={"help": "where the prompt came from"})
    chat: bool = field(default=False, metadata={"help": "apply the chat template, stop at end of turn"})
    temperature: float = field(default=0.0, metadata={"help": "sampling temperature; 0 = greedy"})
    seed: int = field(default=42, metadata={"help": "seed for random prompts and sampling"})
    force: bool = field(default=False, metadata={"help": "skip the memory guard (each model is then measured "
                                                                  "in a child process: see runner)"})
    in_child: bool = field(default=False, metadata={"help": "this is that child process: measure here"})
    rerun: bool = field(default=False, metadata={"help": "measure cells already in the store again"})
    sensor_interval: float = field(default=0.05, metadata={"help": "resource sampling period (s)"})
    sensors: tuple[str, ...] | None = field(default=None, metadata={"help": "resource sensors; None = all"})
    cell_timeout: float | None = field(default=None, metadata={"help": "seconds a cell may take (warmup and "
                                                                         "repetitions) before it is recorded as "
                                                                         "failed"})
    cooldown_c: float | None = field(default=None, metadata={"help": "before each cell, wait until the hottest "
                                                                       "sensor reads at most this many degrees C"})
    cooldown_timeout: float = field(default=600.0, metadata={"help": "longest wait for --cooldown (s)"})
    device_name: str | None = field(default=None, metadata={"help": "what rows call this device; default: "
                                                                    "its model name or hostname"})
    load_mode: tuple[str, ...] = field(default=("auto",), metadata={"help": "how llama.cpp reads the weights "
                                                                           "(load_modes.LOAD_MODES), one load each"})
    cold: bool = field(default=False, metadata={"help": "drop the file from the page cache before each load and "
                                                        "time the first request after it (cold start)"})
    sustain_s: float | None = field(default=None, metadata={"help": "after each context's cells, decode without "
                                                                    "pause this long (throttling, steady state)"})
    sustain_window_s: float = field(default=10.0, metadata={"help": "the sustained run's window length (s)"})
    idle_s: float = field(default=3.0, metadata={"help": "seconds of idle power read before the sweep where a power "
                                                         "sensor exists (net J/token); 0 = none"})


@dataclass(frozen=True)
class Load:
    """One model load: the cells sharing it run under one llama_model."""
    model: Path
    n_gpu_layers: int
    load_mode: str = "auto"
    cold: bool = False


@dataclass(frozen=True)
class Cell:
    model: Path
    n_gpu_layers: int
    context: ContextSettings
    workload: Workload
    load_mode: str = "auto"
    cold: bool = False

    @property
    def load(self) -> Load:
        return Load(self.model, self.n_gpu_layers, self.load_mode, self.cold)


def plan(spec: SweepSpec) -> list[Cell]:
    """Cells in run order: model, then n_gpu_layers, then context settings, then workloads."""
    cells = []
    contexts = list(itertools.product(spec.threads, spec.n_batch, spec.n_ubatch, spec.flash_attn, spec.cache_type,
                                      spec.n_parallel))
    tests = _tests(spec)
    n_ctx = spec.n_ctx or _round_up(max(p + g + d for p, g, d, _ in tests) + 8, 256)  # per sequence
    _check_lengths(spec, tests, n_ctx)
    for model, ngl, mode in itertools.product(spec.models, spec.n_gpu_layers, spec.load_mode):
        for threads, batch, ubatch, fa, cache, parallel in contexts:
            # Parallel sequences share one cache (kv_unified): it holds every sequence's tokens.
            settings = ContextSettings(n_ctx=n_ctx * parallel, n_batch=batch, n_ubatch=min(ubatch, batch),
                                       n_threads=threads, flash_attn=fa, type_k=cache, type_v=cache,
                                       n_seq_max=parallel)
            for p, g, d, pg in tests:
                workload = Workload(n_prompt=p, n_gen=g, n_depth=d, pg=pg, repetitions=spec.repetitions,
                                    warmup=spec.warmup, stop_at_eog=spec.chat, seed=spec.seed,
                                    temperature=spec.temperature, n_parallel=parallel)
                cells.append(Cell(model, ngl, settings, workload, mode, spec.cold))
    return cells


def _tests(spec: SweepSpec) -> list[tuple[int, int, int, bool]]:
    """(n_prompt, n_gen, n_depth, pg) of every workload, in run order."""
    if spec.tests == "llama-bench":
        if spec.prompt_text is not None:  # a real prompt has one length; llama-bench's tests need random tokens
            raise fail("llama_bench_prompt")
        tests = llama_bench_tests(spec.n_prompt, spec.n_gen, spec.n_pg, spec.n_depth)
        if not tests:
            raise fail("llama_bench_nothing")
        return tests
    if spec.n_pg:
        raise fail("pg_needs_llama_bench", pairs=" ".join(f"{p},{g}" for p, g in spec.n_pg))
    tests = [(p, g, d, False) for p, g, d in itertools.product(spec.n_prompt, spec.n_gen, spec.n_depth) if p or g]
    if not tests:  # a request with no prompt and no generation measures nothing: no such cell (llama-bench too)
        raise fail("nothing_to_measure")
    return tests


def _check_lengths(spec: SweepSpec, tests: list[tuple[int, int, int, bool]], n_ctx: int) -> None:
    """Every test fits the context, and the context fits llama.cpp's 32-bit positions (a larger one
    would wrap silently); the same for every model, so checked before any model file is read."""
    from edgeprof.limits import INT32_MAX

    p, g, d, _ = max(tests, key=lambda t: t[0] + t[1] + t[2])
    what = "-p/-n/-d" if spec.n_ctx is None else f"--ctx {n_ctx}"
    largest = n_ctx * max(spec.n_parallel)  # parallel sequences share one cache
    if largest > INT32_MAX:
        raise fail("context_too_large", what=what, n_prompt=p, n_gen=g, n_depth=d, n_ctx=largest, limit=INT32_MAX)
    if d + p + g > n_ctx:
        raise fail("prompt_too_long", what=f"--ctx {n_ctx}", n_prompt=p, n_depth=d, n_gen=g, n_ctx=n_ctx)


def llama_bench_tests(n_prompt, n_gen, n_pg, n_depth) -> list[tuple[int, int, int, bool]]:
    """llama-bench's test list for its -p, -n, -pg and -d: at each depth, a pp test per prompt length
    (no generation), a tg test per generation length (no prompt), then a pg test per pair (prompt,
    then generation, one rate for both). Zero lengths make no test, as in llama-bench; a pair with one
    side 0 is the plain pp or tg test it amounts to."""
    tests = []
    for d in n_depth:
        tests += [(p, 0, d, False) for p in n_prompt if p]
        tests += [(0, g, d, False) for g in n_gen if g]
        tests += [(p, g, d, bool(p and g)) for p, g in n_pg if p or g]
    return tests


def _round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def groups(cells: list[Cell]) -> Iterator[tuple[Load, Iterator[tuple[ContextSettings, list[Cell]]]]]:
    """Cells grouped by model load, then by context (itertools.groupby keeps run order)."""
    for load, model_cells in itertools.groupby(cells, key=lambda c: c.load):
        model_cells = list(model_cells)
        yield load, ((ctx, list(cs)) for ctx, cs in itertools.groupby(model_cells, key=lambda c: c.context))


def settings_of(cell: Cell) -> dict:
    settings = {"n_gpu_layers": cell.n_gpu_layers, **asdict(cell.context), **asdict(cell.workload)}
    if not settings["pg"]:  # the settings are hashed into cell keys: rows stored before pg existed keep theirs
        del settings["pg"]
    if settings["n_parallel"] == 1:  # likewise for rows stored before parallel sequences existed
        del settings["n_parallel"]
    if cell.load_mode != "auto":  # and before load modes and cold starts
        settings["load_mode"] = cell.load_mode
    if cell.cold:
        settings["cold"] = True
    return settings
