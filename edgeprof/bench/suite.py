"""Bench suites: what `edgeprof run` measures, as a TOML file under ``bench/suites/`` (or any path).

A suite lists speed scenarios (each a sweep over some levels) and the quality checks, and may set
the quality budget the report ranks by. Errors name the file, the line and the key."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeprof import limits
from edgeprof.errors import EdgeprofError, did_you_mean, fail
from edgeprof.paths import all_cores, data_dir
from edgeprof.tomlfile import check_keys, expect, load_toml, location, require

ALL = "all"
AUTO_LAYERS = -2  # ngl = "auto": every layer where a GPU can take them, else 0 (resolved at run time)


@dataclass(frozen=True)
class Scenario:
    name: str = field(metadata={"help": "what the scenario compares (shown in progress)"})
    levels: tuple[str, ...] | None = field(default=None, metadata={"help": "levels it runs on; None = all"})
    threads: tuple[int, ...] = field(default=(), metadata={"help": "CPU threads; () = all cores"})
    n_gpu_layers: tuple[int, ...] = field(default=(0,), metadata={"help": "GPU layers; -1 = all, -2 = auto"})
    n_prompt: tuple[int, ...] = field(default=(512,), metadata={"help": "prompt lengths"})
    n_gen: tuple[int, ...] = field(default=(128,), metadata={"help": "generation lengths"})
    n_depth: tuple[int, ...] = field(default=(0,), metadata={"help": "context depths"})
    repetitions: int = field(default=5, metadata={"help": "timed repetitions per cell"})
    needs_gpu: bool = field(default=False, metadata={"help": "run only where llama.cpp can offload to a GPU"})


@dataclass(frozen=True)
class QualityChecks:
    tasks: tuple[str, ...] = field(default=(), metadata={"help": "accuracy tasks"})
    limit: int | None = field(default=None, metadata={"help": "examples per task"})
    shots: int | None = field(default=None, metadata={"help": "few-shot examples; None = the task's"})
    corpus: str | None = field(default=None, metadata={"help": "perplexity corpus"})
    ppl_chunks: int | None = field(default=None, metadata={"help": "perplexity windows"})
    ppl_ctx: int = field(default=512, metadata={"help": "perplexity window size"})
    kld: bool = field(default=True, metadata={"help": "KLD of each level against the model's unquantized file"})


@dataclass(frozen=True)
class Suite:
    name: str = field(metadata={"help": "the suite's name"})
    path: Path = field(metadata={"help": "the file it came from"})
    description: str = field(default="", metadata={"help": "what it is for"})
    scenarios: tuple[Scenario, ...] = field(default=(), metadata={"help": "speed sweeps"})
    quality: QualityChecks | None = field(default=None, metadata={"help": "accuracy and perplexity checks"})
    max_kld: float | None = field(default=None, metadata={"help": "the report's KLD budget"})
    min_acc: float | None = field(default=None, metadata={"help": "the report's accuracy budget"})


SUITE_KEYS = {"description", "scenario", "quality", "budget"}
SCENARIO_KEYS = {"name", "levels", "threads", "ngl", "prompt_tokens", "gen_tokens", "depth", "repetitions", "needs"}
QUALITY_KEYS = {"tasks", "limit", "shots", "ppl", "ppl_chunks", "ppl_ctx", "kld"}
BUDGET_KEYS = {"max_kld", "min_acc"}


def suite_names() -> list[str]:
    return sorted(p.stem for p in (data_dir("bench") / "suites").glob("*.toml"))


def find_suite(name: str, relative_to: Path | None = None) -> Path:
    """A shipped suite by name, or a .toml path (relative to the models.toml that names it)."""
    if name.endswith(".toml"):
        path = Path(name)
        if not path.is_absolute() and relative_to is not None:
            path = relative_to / path
        if not path.is_file():
            raise fail("not_found", path=path)
        return path
    path = data_dir("bench") / "suites" / f"{name}.toml"
    if not path.is_file():
        names = suite_names()
        raise fail("unknown_suite", name=name, hint=did_you_mean(name, names), choices=", ".join(names))
    return path


def load_suite(name: str, relative_to: Path | None = None) -> Suite:
    path = find_suite(name, relative_to)
    data = load_toml(path)
    text = path.read_text(encoding="utf-8")
    check_keys(path, "top level", data, SUITE_KEYS)
    entries = expect(path, "top level", data, "scenario", list) if "scenario" in data else []
    scenarios = tuple(_scenario(path, location(text, "scenario", i), entry) for i, entry in enumerate(entries))
    quality = _quality(path, location(text, "quality"), data["quality"]) if "quality" in data else None
    budget = expect(path, location(text, "budget"), data, "budget", dict) if "budget" in data else {}
    check_keys(path, location(text, "budget"), budget, BUDGET_KEYS)
    where = location(text, "budget")
    return Suite(path.stem, path, str(data.get("description", "")), scenarios, quality,
                 _number(path, where, "max_kld", budget.get("max_kld"), limits.KLD),
                 _number(path, where, "min_acc", budget.get("min_acc"), limits.ACCURACY))


def _scenario(path: Path, where: str, entry: Any) -> Scenario:
    if not isinstance(entry, dict):
        raise fail("toml_value", path=path, where=where, detail="each [[scenario]] must be a table")
    check_keys(path, where, entry, SCENARIO_KEYS)
    needs = entry.get("needs")
    if needs not in (None, "gpu"):
        raise fail("toml_value", path=path, where=where, detail=f"needs must be \"gpu\", got {needs!r}")
    levels = entry.get("levels", ALL)
    repetitions = expect(path, where, entry, "repetitions", int) if "repetitions" in entry else 5
    scenario = Scenario(
        name=str(require(path, where, entry, "name", str)),
        levels=None if levels == ALL else tuple(_levels(path, where, levels)),
        threads=_ints(path, where, entry, "threads", ()), n_gpu_layers=_ints(path, where, entry, "ngl", (0,)),
        n_prompt=_ints(path, where, entry, "prompt_tokens", (512,)),
        n_gen=_ints(path, where, entry, "gen_tokens", (128,)),
        n_depth=_ints(path, where, entry, "depth", (0,)),
        repetitions=_checked(path, where, "repetitions", repetitions, limits.REPETITIONS),
        needs_gpu=needs == "gpu")
    _check_lengths(path, where, scenario)
    return scenario


def _checked(path: Path, where: str, key: str, value: int | float, allowed: limits.Range) -> int | float:
    """``value`` within ``allowed`` (the range the same command-line option has), else one line with the line."""
    try:
        return allowed.check(key, value)
    except EdgeprofError as exc:
        raise fail("toml_value", path=path, where=where, detail=str(exc)) from None


def _check_lengths(path: Path, where: str, scenario: Scenario) -> None:
    """The scenario's lengths as `edgeprof bench` checks them (something to measure, a context llama.cpp
    can hold), at load time: not after the models were converted."""
    from edgeprof.bench.sweep import SweepSpec, plan

    try:
        plan(SweepSpec(models=(), n_prompt=scenario.n_prompt, n_gen=scenario.n_gen, n_depth=scenario.n_depth))
    except EdgeprofError as exc:
        raise fail("toml_value", path=path, where=where, detail=str(exc)) from None


def _levels(path: Path, where: str, levels: Any) -> list[str]:
    from edgeprof.levels import canonical_level

    if not isinstance(levels, list) or not all(isinstance(v, str) for v in levels):
        raise fail("toml_type", path=path, where=where, key="levels", expected='"all" or a list of levels',
                   got=type(levels).__name__)
    try:
        return [canonical_level(v) for v in levels]
    except Exception as exc:  # noqa: BLE001 - the level error names the level; we add file and line
        raise fail("toml_value", path=path, where=where, detail=str(exc)) from None


def _ints(path: Path, where: str, entry: dict, key: str, default: tuple) -> tuple[int, ...]:
    """A list of whole numbers; "all" means every core (threads) or every layer (ngl), ngl = "auto"
    every layer where there is a GPU and none elsewhere, threads = "scale" 1, 2, 4, ... every core."""
    if key not in entry:
        return default
    value = entry[key]
    cores = all_cores()
    if key == "threads" and value == "scale":
        return tuple(dict.fromkeys([2**i for i in range(cores.bit_length()) if 2**i < cores] + [cores]))
    values = value if isinstance(value, list) else [value]
    allowed = {"threads": limits.threads(), "ngl": limits.GPU_LAYERS}.get(key, limits.TOKENS)
    out = []
    for v in values:
        if v == ALL:
            out.append(cores if key == "threads" else -1)
        elif v == "auto" and key == "ngl":
            out.append(AUTO_LAYERS)
        elif isinstance(v, int) and not isinstance(v, bool) and v >= 0:
            out.append(_checked(path, where, key, v, allowed))
        else:
            raise fail("toml_type", path=path, where=where, key=key, expected='whole numbers (or "all")',
                       got=repr(v))
    return tuple(dict.fromkeys(out))


def _quality(path: Path, where: str, table: Any) -> QualityChecks:
    if not isinstance(table, dict):
        raise fail("toml_value", path=path, where=where, detail="[quality] must be a table")
    check_keys(path, where, table, QUALITY_KEYS)
    tasks = expect(path, where, table, "tasks", list) if "tasks" in table else []
    from edgeprof.bench.tasks.definition import load_task

    for task in tasks:
        try:
            load_task(str(task))  # a typo fails here, with the line, not after the speed runs
        except EdgeprofError as exc:
            raise fail("toml_value", path=path, where=where, detail=str(exc)) from None
    ranges = {"limit": limits.COUNT, "shots": limits.SHOTS, "ppl_chunks": limits.COUNT, "ppl_ctx": limits.CONTEXT}
    opt = {k: _checked(path, where, k, expect(path, where, table, k, int), allowed) for k, allowed in ranges.items()
           if k in table}
    return QualityChecks(tasks=tuple(str(t) for t in tasks), limit=opt.get("limit"), shots=opt.get("shots"),
                         corpus=expect(path, where, table, "ppl", str) if "ppl" in table else None,
                         ppl_chunks=opt.get("ppl_chunks"), ppl_ctx=opt.get("ppl_ctx", 512),
                         kld=expect(path, where, table, "kld", bool) if "kld" in table else True)


def _number(path: Path, where: str, key: str, value: Any, allowed: limits.Range) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise fail("toml_type", path=path, where=where, key=key, expected="a number", got=type(value).__name__)
    return float(_checked(path, where, key, value, allowed))  # TOML has nan and inf: refused
