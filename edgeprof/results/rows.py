"""What a result row holds: the one definition of ``bench.jsonl``'s rows, with one builder per kind.

Every line of ``bench.jsonl`` is one row. All rows share an envelope (what was measured, on what,
with which settings, when); the kind adds its measurements:

- ``speed``: one sweep cell (prefill, TTFT, decode, per-token latency, memory, resources, energy)
- ``task``: accuracy on one task (metrics with their standard errors; per-example answers in ``details``)
- ``perplexity``: perplexity and KL-divergence against a baseline file over a corpus
- ``sustain``: decode without pause for minutes, in windows (t/s beside temperature, clock, power,
  throttle flags), and the steady state it settles at

A cell that could not be measured is a row with ``status: "failed"`` and the ``error`` that says why.
Rows written before ``kind`` existed are speed rows. Readers use ``kind_of``/``of_kind`` and the
key names below; old rows stay readable because keys are only ever added.
"""


import json
import time
from typing import Any, Literal, NotRequired, TypedDict

SCHEMA = 1  # bumped only when a key changes meaning; readers refuse rows from a newer schema
Kind = Literal["speed", "task", "perplexity", "sustain"]
KINDS: tuple[Kind, ...] = ("speed", "task", "perplexity", "sustain")


class ModelInfo(TypedDict):
    """The GGUF file a row measured (read from its header: edgeprof.model_file)."""
    path: str
    file: str
    name: str
    architecture: str | None
    sha256: str
    size_bytes: int
    n_params: int
    bits_per_weight: float
    level: str | None
    synthetic: bool


class Envelope(TypedDict):
    schema: int
    kind: Kind
    cell: str  # a stable id of what was measured: file content, settings, workload, device
    status: Literal["ok", "failed"]
    timestamp: str
    model: ModelInfo
    settings: dict[str, Any]  # every setting that ran: threads, ngl, batch, ctx, prompt, ...
    system: dict[str, Any]  # edgeprof.bench.system.system_info(): hardware, OS, llama.cpp build
    error: NotRequired[str]  # failed rows: why


class SpeedRow(Envelope):
    model_desc: str
    model_tensor_bytes: int
    metrics: dict[str, Any]  # pp/tg t/s, prefill/TTFT/total ms (mean, std), token_ms_p50/p90/p99, samples
    load_seconds: float
    resources: dict[str, dict[str, float | None]]  # per phase (load, idle, prefill, decode): sensor means/maxima
    sampler: dict[str, float | None]  # the resource monitor's own cost (historic key name: its sensors' overhead)
    timeline: dict[str, Any]
    memory: dict[str, float | str | None]  # the guard's estimate beside the measured peaks (*_mb); where from
    energy: dict[str, Any]  # J/token per phase and source; "unmeasured": {figure: why} for the rest
    thermal: dict[str, Any]
    roofline: NotRequired[dict[str, Any]]  # bytes/token, achieved GB/s, % of the probed bandwidth, memory: RAM or GPU
    cold_start: NotRequired[dict[str, Any]]  # --cold: page cache dropped?, load_s, context_s, first_ttft_ms, total


class TaskRow(Envelope):
    task: dict[str, Any]  # name, source, licence, shots, limit, seed, n_examples, chat (+ chat_template)
    metrics: dict[str, Any]  # acc, acc_stderr, acc_norm, exact_match, f1, ...
    eval: dict[str, Any]
    details: str  # per-example answers, relative to the results folder


class SustainRow(Envelope):
    windows: list[dict[str, Any]]  # t_s, tps, tokens and each sensor's mean (throttle flags: max) per window
    steady: dict[str, Any]  # burst_tps, steady_tps, steady_over_burst, first_slowdown_s, steady_j_per_token
    tokens: int
    decode_s: float
    thermal: dict[str, Any]
    resources: dict[str, dict[str, float | None]]


class PerplexityRow(Envelope):
    corpus: str
    baseline: dict[str, Any] | None
    metrics: dict[str, Any]  # ppl, ppl_delta, kld_mean/median/p99, same_top_token_rate
    eval: dict[str, Any]


def envelope(kind: Kind, cell: str, model: dict, settings: dict, system: dict) -> dict:
    """The part every row shares, status ok; the kind's builder adds its measurements."""
    return {"schema": SCHEMA, "kind": kind, "cell": cell, "status": "ok",
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "model": model, "settings": settings,
            "system": system}


def failed_row(kind: Kind, cell: str, model: dict, settings: dict, system: dict, error: str) -> dict:
    """A cell that could not be measured: recorded with why, so a rerun tries it again."""
    return {**envelope(kind, cell, model, settings, system), "status": "failed", "error": error}


def speed_row(cell: str, model: dict, settings: dict, system: dict, **measured: Any) -> SpeedRow:
    """A measured sweep cell; ``measured`` holds the SpeedRow keys beyond the envelope."""
    return _measured_row("speed", SpeedRow, cell, model, settings, system, measured)  # type: ignore[return-value]


def _measured_row(kind: Kind, shape: type, cell: str, model: dict, settings: dict, system: dict,
                  measured: dict) -> dict:
    """The envelope and ``measured``, which must hold exactly the keys ``shape`` adds to it."""
    missing = set(shape.__required_keys__) - set(Envelope.__required_keys__) - set(measured)
    unknown = set(measured) - set(shape.__annotations__)
    if missing or unknown:  # a programming error, caught by the tests: rows keep one shape
        raise TypeError(f"{kind} row: missing {sorted(missing)}, unknown {sorted(unknown)}")
    return {**envelope(kind, cell, model, settings, system), **measured}


def sustain_row(cell: str, model: dict, settings: dict, system: dict, **measured: Any) -> SustainRow:
    """A sustained run; ``measured`` holds the SustainRow keys beyond the envelope."""
    return _measured_row("sustain", SustainRow, cell, model, settings, system, measured)  # type: ignore[return-value]


def kind_of(row: dict) -> str:
    """speed, task or perplexity; rows from before kinds existed are speed rows."""
    return row.get("kind", "speed")


def of_kind(rows: list[dict], kind: Kind) -> list[dict]:
    return [r for r in rows if kind_of(r) == kind]


def measured(row: dict) -> str:
    """What a row measured, as one string: equal for two rows only when they measured the same thing
    (the file's content, every setting (the prompt's content hash among them), the task's or corpus's
    own settings, the device by fingerprint and name). Readers keep the latest row of each, so a
    rerun's row replaces the earlier one and rows that measured different things are all kept."""
    model, system, kind = row.get("model") or {}, row.get("system") or {}, kind_of(row)
    what: dict[str, Any] = {
        "kind": kind, "file": model.get("sha256") or [model.get("name"), model.get("level"), model.get("file")],
        "settings": row.get("settings"), "device": [system.get("device_id"), system.get("device_name")]}
    if kind == "task":
        task = row.get("task") or {}
        what["task"] = {key: task.get(key) for key in ("name", "source", "shots", "limit", "seed")}
        if task.get("chat"):  # chat-prompted rows are another measurement; plain rows keep their old string
            what["task"]["chat"] = task.get("chat_template")
    elif kind == "perplexity":
        what["corpus"] = [row.get("corpus"), (row.get("baseline") or {}).get("sha256")]
    return json.dumps(what, sort_keys=True, default=str)
