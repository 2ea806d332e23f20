"""Which rows readers may use: every row read from ``bench.jsonl`` is checked here, against rows.py's
definitions, before plot, report, an export or a resumed bench sees it.

A row is used when every key of its kind's TypedDict in rows.py is there with the type given there
(``OPTIONAL`` names the keys rows of an earlier edgeprof may lack: checked when present), the values
readers compute with have the types and ranges in the tables below, every number is finite (Python's
json writes and reads NaN and Infinity; no measurement is either) and nothing nests deeper than
``MAX_DEPTH``. Keys are only ever added to rows (rows.py), so a key not named here may hold any
finite JSON value. ``problem`` says what is wrong with a row, in the words the CLI's note prints.
"""

from __future__ import annotations

import math
import types
from functools import cache
from typing import Any, Literal, TypedDict, Union, get_args, get_origin, get_type_hints, is_typeddict

from edgeprof.errors import fail
from edgeprof.results.rows import SCHEMA, Envelope, PerplexityRow, SpeedRow, SustainRow, TaskRow

MAX_DEPTH = 24  # rows nest 4 deep (metrics.groups.<group>.acc); the bound keeps every walk short
MAX_INT = 2**63  # larger whole numbers are not counts of anything and overflow float arithmetic
ROW_TYPES: dict[str, type] = {"speed": SpeedRow, "task": TaskRow, "perplexity": PerplexityRow,
                              "sustain": SustainRow}

# Keys of rows.py's TypedDicts that rows written by an earlier edgeprof may lack.
OPTIONAL = frozenset({"schema", "kind", "model_desc", "model_tensor_bytes", "load_seconds", "resources",
                      "sampler", "timeline", "memory", "energy", "thermal", "eval", "details", "architecture",
                      "bits_per_weight", "level", "synthetic"})


class _Gpu(TypedDict):
    name: str


class _Timeline(TypedDict):
    t: list[float]
    phase: list[str]
    values: dict[str, list[float | None]]


# What readers compute with inside the free-form parts of a row: part -> key -> type. A key listed
# here may be absent; when present it must have this type.
SETTINGS: dict[str, Any] = {
    **dict.fromkeys(("n_threads", "n_gpu_layers", "n_batch", "n_ubatch", "n_ctx", "n_seq_max", "n_prompt", "n_gen",
                     "n_depth", "repetitions", "seed", "ppl_ctx"), int),
    "n_parallel": int, "chunks": int | None, "flash_attn": bool | None, "warmup": bool, "stop_at_eog": bool, "pg": bool,
    "type_k": str, "type_v": str, "prompt": str, "prompt_sha256": str, "temperature": float, "load_mode": str,
    "cold": bool, "sustain_s": float, "sustain_window_s": float}
SYSTEM: dict[str, Any] = {**dict.fromkeys(("device_name", "device_model", "hostname", "device_id", "cpu_model"),
                                          str | None),
                          "gpus": list[_Gpu] | None, "ggml_devices": dict | None}
TASK: dict[str, Any] = {"name": str, "shots": int | None, "limit": int | None, "seed": int | None,
                        "n_examples": int | None, "source": str | None}
BASELINE: dict[str, Any] = {"sha256": str, "is_self": bool, "file": str | None, "level": str | None}
EVAL: dict[str, Any] = dict.fromkeys(("seconds", "examples_per_s", "tokens_per_s"), float | None)
SPEED_METRICS = ("pp_tps_mean", "pp_tps_std", "tg_tps_mean", "tg_tps_std", "prefill_ms_mean", "prefill_ms_std",
                 "ttft_ms_mean", "ttft_ms_std", "total_ms_mean", "total_ms_std", "sample_ms_per_token_mean",
                 "sample_ms_per_token_std", "tokens_generated_mean", "token_ms_p50", "token_ms_p90", "token_ms_p99",
                 "token_ms_max", "tokenize_ms")
PROPORTIONS = ("acc", "acc_norm", "exact_match", "f1", "precision", "recall", "acc_macro", "acc_norm_macro",
               "exact_match_macro", "same_top_token_rate", "pass@1")
METRICS: dict[str, Any] = {
    **dict.fromkeys(SPEED_METRICS + PROPORTIONS, float | None),
    **dict.fromkeys(("acc_stderr", "acc_norm_stderr", "exact_match_stderr", "ppl", "ppl_delta", "ppl_baseline",
                     "kld_mean", "kld_median", "kld_p99", "kld_max", "nll_mean", "nll_std_error"), float | None),
    "n": int, "ppl_tokens": int, "token_latencies_ms": list[float], "pp_samples_ns": list[int],
    "tg_samples_ns": list[int], "tokens_per_repetition": list[int]}
PARTS: dict[str, dict[str, Any]] = {"settings": SETTINGS, "system": SYSTEM, "task": TASK, "baseline": BASELINE,
                                    "metrics": METRICS, "eval": EVAL}
# Keys readers index without a default, per kind and part.
NEEDED: dict[tuple[str, str], tuple[str, ...]] = {
    ("speed", "settings"): ("n_threads", "n_gpu_layers", "n_batch", "n_ubatch", "flash_attn", "type_k", "type_v",
                            "n_prompt", "n_gen", "n_depth"),
    ("speed", "metrics"): ("pp_samples_ns", "tg_samples_ns"),
    ("task", "task"): ("name", "shots"), ("task", "metrics"): ("n",),
    ("perplexity", "metrics"): ("ppl", "ppl_tokens")}
# Ranges: a negative speed, size or count, or an accuracy above 1, is no measurement.
NOT_NEGATIVE = frozenset(SPEED_METRICS + ("acc_stderr", "acc_norm_stderr", "exact_match_stderr", "ppl", "n",
                                          "ppl_tokens", "size_bytes", "n_params", "bits_per_weight",
                                          "token_latencies_ms", "tokens_per_repetition"))
POSITIVE = frozenset(("pp_samples_ns", "tg_samples_ns"))  # durations that are divided by


def newer_schema(row: object) -> int | None:
    """The row's schema when it is newer than this edgeprof reads (then nothing else is checked)."""
    schema = row.get("schema") if isinstance(row, dict) else None
    if isinstance(schema, int) and not isinstance(schema, bool) and schema > SCHEMA:
        return schema
    return None


def problem(row: object) -> str | None:
    """Why readers cannot use ``row``, or None when they can."""
    if not isinstance(row, dict):
        return str(fail("row_type", where="the line", expected="a JSON object", got=_shown(row)))
    why = first_unusable_number(row)
    if why is not None:
        return why
    kind = row.get("kind", "speed")
    if not isinstance(kind, str) or kind not in ROW_TYPES:
        return str(fail("row_kind", kind=_shown(kind), kinds=", ".join(ROW_TYPES)))
    schema = row.get("schema", SCHEMA)
    if isinstance(schema, bool) or not isinstance(schema, int) or schema < 1:
        return str(fail("row_type", where="schema", expected="a whole number from 1", got=_shown(schema)))
    ok = row.get("status") == "ok"
    why = _fields(row, ROW_TYPES[kind] if ok else Envelope, "")
    if why is not None or not ok:
        return why
    for part, table in PARTS.items():
        value = row.get(part)
        if isinstance(value, dict):
            needed = NEEDED.get((kind, part), ())
            why = _missing(value, needed, part) or _known(value, table, part) or _ranges(value, part)
            if why is not None:
                return why
    memory = row.get("memory")
    if isinstance(memory, dict):  # the figures and tables add and compare every *_mb figure
        why = _known(memory, {k: float | None for k in memory if k.endswith("_mb")}, "memory")
        if why is not None:
            return why
    return _ranges(row["model"], "model") or _timeline(row.get("timeline"))


def first_unusable_number(value: object) -> str | None:
    """The first NaN, infinity or overlong whole number in ``value``, or nesting deeper than
    MAX_DEPTH, as the note's words; None when there is none."""
    stack = [(value, "", 0)]
    while stack:
        item, where, depth = stack.pop()
        if depth > MAX_DEPTH:
            return str(fail("row_too_deep"))
        if isinstance(item, float) and not math.isfinite(item):
            return str(fail("row_not_finite", where=where or "the line", value=item))
        if isinstance(item, int) and not isinstance(item, bool) and abs(item) >= MAX_INT:
            return str(fail("row_type", where=where or "the line", expected="a whole number below 2**63",
                            got=_shown(item)))
        if isinstance(item, dict):
            stack += [(v, f"{where}.{k}" if where else str(k), depth + 1) for k, v in item.items()]
        elif isinstance(item, list):
            stack += [(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(item)]
    return None


@cache
def _hints(typed: type) -> dict[str, Any]:
    return get_type_hints(typed)


def _fields(value: dict, typed: type, where: str) -> str | None:
    """Each key of a TypedDict: present (unless not required, or OPTIONAL) and of its type."""
    for key, hint in _hints(typed).items():
        place = f"{where}.{key}" if where else key
        if key not in value:
            if key in OPTIONAL or key in typed.__optional_keys__:  # type: ignore[attr-defined]
                continue
            return str(fail("row_missing", where=place))
        why = _conforms(value[key], hint, place)
        if why is not None:
            return why
    return None


def _missing(value: dict, keys: tuple[str, ...], where: str) -> str | None:
    for key in keys:
        if key not in value:
            return str(fail("row_missing", where=f"{where}.{key}"))
    return None


def _known(value: dict, table: dict[str, Any], where: str) -> str | None:
    for key, hint in table.items():
        if key in value:
            why = _conforms(value[key], hint, f"{where}.{key}")
            if why is not None:
                return why
    return None


def _conforms(value: object, hint: Any, where: str) -> str | None:
    """None when ``value`` has the type ``hint`` (as rows.py writes types), else why not."""
    ok = _is(value, hint, where)
    if ok is True:
        return None
    return ok or str(fail("row_type", where=where, expected=_expected(hint), got=_shown(value)))


def _is(value: object, hint: Any, where: str) -> bool | str:
    """True, False, or the reason a part of ``value`` (a field, an item) does not conform."""
    origin, args = get_origin(hint), get_args(hint)
    if hint is Any:
        return True
    if origin in (Union, types.UnionType):  # the first arm that accepts it, else why an arm of its shape did not
        results = [_is(value, arm, where) for arm in args]
        return True if True in results else next((r for r in results if isinstance(r, str)), False)
    if origin is Literal:
        return isinstance(value, str) and value in args
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if is_typeddict(hint):
        return isinstance(value, dict) and (_fields(value, hint, where) or True)
    if hint is dict or origin is dict:
        if not isinstance(value, dict):
            return False
        return _each(value.items(), args[1] if args else Any, where)
    if hint is list or origin is list:
        if not isinstance(value, list):
            return False
        return _each(((f"[{i}]", v) for i, v in enumerate(value)), args[0] if args else Any, where)
    raise TypeError(f"validate: no check for {hint!r}")  # a programming error: rows.py's types are known


def _each(items, hint: Any, where: str) -> bool | str:
    if hint is Any:
        return True
    for key, item in items:
        place = f"{where}{key}" if key.startswith("[") else f"{where}.{key}"
        why = _conforms(item, hint, place)
        if why is not None:
            return why
    return True


def _ranges(value: dict, where: str) -> str | None:
    for key, item in value.items():
        items = item if isinstance(item, list) else [item]
        numbers = [x for x in items if isinstance(x, (int, float)) and not isinstance(x, bool)]
        if key in POSITIVE and any(x <= 0 for x in numbers):
            return str(fail("row_range", where=f"{where}.{key}", value=min(numbers), allowed="above 0"))
        if key in NOT_NEGATIVE and any(x < 0 for x in numbers):
            return str(fail("row_range", where=f"{where}.{key}", value=min(numbers), allowed="0 or more"))
        if key in PROPORTIONS and where == "metrics" and any(not 0 <= x <= 1 for x in numbers):
            return str(fail("row_range", where=f"{where}.{key}", value=item, allowed="from 0 to 1"))
    return None


def _timeline(timeline: object) -> str | None:
    """A resource timeline: its times, phases and every series of the same length."""
    if timeline is None or timeline == {}:
        return None
    why = _conforms(timeline, _Timeline, "timeline")
    if why is not None:
        return why
    n = len(timeline["t"])  # type: ignore[index]
    lengths = {"phase": len(timeline["phase"]), **{f"values.{k}": len(v) for k, v in timeline["values"].items()}}  # type: ignore[index]
    for key, length in lengths.items():
        if length != n:
            return str(fail("row_lengths", where=f"timeline.{key}", n=length, expected=n))
    return None


def _expected(hint: Any) -> str:
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):
        return " or ".join(_expected(arm) for arm in args)
    if origin is Literal:
        return " or ".join(repr(a) for a in args)
    names = {type(None): "null", bool: "true or false", int: "a whole number", float: "a number", str: "text"}
    if hint in names:
        return names[hint]
    if is_typeddict(hint) or hint is dict or origin is dict:
        return "an object"
    if hint is list or origin is list:
        return f"a list ({_expected(args[0])} each)" if args and args[0] is not Any else "a list"
    return str(hint)


def _shown(value: object) -> str:
    """A value as the note shows it: short, its type clear."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
