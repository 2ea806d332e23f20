"""Repetitions -> the numbers a row reports: mean and sample standard deviation (as llama-bench),
per-token latency percentiles."""

from __future__ import annotations

import statistics

import numpy as np

from edgeprof.bench.measure import Repetition


def mean_std(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def summarize(reps: list[Repetition], n_prompt: int) -> dict:
    """The metrics of one cell. Times in ms, rates in tokens/s; None where not measured."""
    pp_ns = [r.prefill_ns for r in reps if r.prefill_ns]
    tg_ns = [sum(r.decode_ns) for r in reps if r.decode_ns]
    steps = np.array([s for r in reps for s in r.decode_ns], dtype=np.float64) / 1e6
    out: dict = {}

    def put(name: str, values: list[float], digits: int = 4) -> None:
        mean, std = mean_std(values)
        out[f"{name}_mean"] = None if mean is None else round(mean, digits)
        out[f"{name}_std"] = None if std is None else round(std, digits)

    put("prefill_ms", [ns / 1e6 for ns in pp_ns])
    put("pp_tps", [n_prompt / (ns / 1e9) for ns in pp_ns], 2)
    put("ttft_ms", [r.ttft_ns / 1e6 for r in reps if r.prefill_ns])
    put("tg_tps", [r.tokens_generated / (sum(r.decode_ns) / 1e9) for r in reps if r.decode_ns], 2)
    put("total_ms", [r.total_ns / 1e6 for r in reps])
    put("sample_ms_per_token", [(r.first_sample_ns + r.sample_ns) / 1e6 / max(1, r.tokens_generated + 1)
                                for r in reps], 5)
    out["tokens_generated_mean"] = statistics.fmean(r.tokens_generated for r in reps) if reps else 0
    if reps and reps[0].n_parallel > 1:  # tg_tps is then the aggregate over all sequences
        put("tg_tps_per_seq", [len(r.decode_ns) / (sum(r.decode_ns) / 1e9) for r in reps if r.decode_ns], 2)
    if steps.size:
        for q in (50, 90, 99):
            out[f"token_ms_p{q}"] = round(float(np.percentile(steps, q)), 4)
        out["token_ms_max"] = round(float(steps.max()), 4)
    out["pp_samples_ns"] = pp_ns
    out["tg_samples_ns"] = tg_ns
    out["token_latencies_ms"] = [round(float(s), 4) for s in steps]
    out["tokens_per_repetition"] = [r.tokens_generated for r in reps]  # splits token_latencies_ms by run
    return out
