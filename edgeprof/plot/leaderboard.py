"""The leaderboard: each model x level on one device, ranked by a stated rule, and the one
sentence of advice the numbers support."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from edgeprof.errors import fail
from edgeprof.plot.noise import Comparison, compare, interval95
from edgeprof.plot.quality import Accuracy, accuracy_by_file, file_key, kld_by_file
from edgeprof.plot.select import per_series
from edgeprof.results.read import UNQUANTIZED, Results, device_of, model_of, reference_rows, sort_levels


@dataclass(frozen=True)
class Budget:
    max_kld: float | None = field(default=None, metadata={"help": "a level qualifies only with mean KLD <= this"})
    min_acc: float | None = field(default=None, metadata={"help": "a level qualifies only with accuracy >= this"})
    task: str | None = field(default=None, metadata={"help": "the task min_acc applies to (default: the first "
                                                              "task recorded)"})
    rank_throttled: bool = field(default=False, metadata={"help": "rank cells that throttled while measured like "
                                                                  "any other; they stay marked"})

    def __post_init__(self):
        for option, limit in (("--max-kld", self.max_kld), ("--min-acc", self.min_acc)):
            if limit is not None and not math.isfinite(limit):  # NaN compares false: every level would pass
                raise fail("budget_not_finite", option=option, value=limit)

    def rule(self, task: str | None) -> str:
        limits = []
        if self.max_kld is not None:
            limits.append(f"mean KLD vs the unquantized file <= {self.max_kld:g}")
        if self.min_acc is not None:
            limits.append(f"{task or 'accuracy'} >= {self.min_acc:g}")
        ranked = "ranked by decode tokens/s (fastest first)"
        throttled = ("levels that throttled while measured are ranked like the others (--rank-throttled) and "
                     "marked (throttled)" if self.rank_throttled else
                     "levels that throttled while measured follow, marked (--rank-throttled ranks them)")
        if not limits:
            return (f"{ranked}; no quality budget was set (--max-kld / --min-acc), so every level qualifies; "
                    f"{throttled}")
        return (f"{ranked} among the levels with {' and '.join(limits)}; the others follow, marked with why; "
                f"{throttled}")


@dataclass(frozen=True)
class Entry:
    model: str
    level: str
    size_mb: float
    bits_per_weight: float | None
    tg_tps: float | None
    tg_std: float | None
    pp_tps: float | None
    ttft_ms: float | None
    kld: float | None
    acc: float | None
    synthetic: bool
    fails: str | None  # why the level is outside the budget; None = qualifies
    accuracy: Accuracy | None = None  # acc with its standard error and per-question outcomes
    throttled: bool = False  # a clock was cut while it was measured: marked wherever it is listed


def budget_task(results: Results, budget: Budget) -> str | None:
    # the first task with an accuracy (a translation's chrF/BLEU is a corpus score, shown in its own table)
    names = list(dict.fromkeys(r["task"]["name"] for r in results.of_kind("task")
                               if r["task"].get("kind") != "translate"))
    return budget.task or (names[0] if names else None)


def entries(results: Results, device: str, budget: Budget) -> list[Entry]:
    """Every model x level with a speed row on ``device``, qualifying ones first, each group by decode t/s."""
    klds, accs = kld_by_file(results), accuracy_by_file(results)
    task = budget_task(results, budget)
    out = []
    for model in results.models:
        rows = reference_rows([r for r in results.speed if device_of(r) == device and model_of(r) == model])
        for series, row in per_series(rows).items():
            level, key, m = series.level + (f" [{series.file}]" if series.file else ""), file_key(row), row["metrics"]
            kld = klds.get(key, {}).get("kld_mean")
            acc = accs.get(key, {}).get(task) if task else None
            desc, tg = row["model"], m.get("tg_tps_mean")
            throttled = _throttled(row)
            out.append(Entry(model, level, desc["size_bytes"] / 1e6, desc.get("bits_per_weight"), tg,
                             m.get("tg_tps_std"), m.get("pp_tps_mean"), m.get("ttft_ms_mean"), kld,
                             acc.value if acc else None, bool(desc.get("synthetic")),
                             _no_speed(tg) or (None if budget.rank_throttled else throttled)
                             or _fails(kld, acc, budget), acc, throttled is not None))
    return sorted(out, key=lambda e: (e.fails is not None, -(e.tg_tps or 0)))


def _no_speed(tg_tps: float | None) -> str | None:
    """Why a level cannot be ranked by decode speed: none was recorded (a prompt-only test) or it is 0."""
    if tg_tps is None:
        return "no decode speed recorded"
    return None if tg_tps > 0 else f"decode speed {tg_tps:g} t/s: nothing was decoded"


def _throttled(row: dict) -> str | None:
    """A cell measured while a clock was cut (heat, power) ranks by a speed the board did not hold: it
    is listed with why, after the cells that ran at full clock, unless the user asks to rank it anyway
    (``Budget.rank_throttled``: a board that always throttles has no other speed to rank by)."""
    if (row.get("thermal") or {}).get("throttled"):
        return "throttled while measured (rerun with --cooldown; --sustain shows the steady speed)"
    return None


def _fails(kld: float | None, acc: Accuracy | None, budget: Budget) -> str | None:
    if budget.max_kld is not None:
        if kld is None:
            return "KLD not measured"
        if kld > budget.max_kld:
            return f"KLD {kld:.3f} > {budget.max_kld:g}"
    if budget.min_acc is not None:
        if acc is None:
            return "accuracy not measured"
        if acc.value < budget.min_acc:
            return f"accuracy {acc.value:.3f} < {budget.min_acc:g}{_near(acc, budget.min_acc)}"
    return None


def _near(acc: Accuracy, limit: float) -> str:
    """A level below the accuracy limit by less than the noise is excluded by the rule, not by evidence."""
    interval = interval95(acc.value, acc.n)
    if interval and interval[1] >= limit:
        return f" (95% interval {interval[0]:.2f}–{interval[1]:.2f} reaches it: within the noise)"
    return ""


def recommendation(device: str, ranked: list[Entry], budget: Budget) -> str:
    """The sentence the data supports: the fastest qualifying level against the most precise quantized
    one (Q8_0 where present), with the quality it costs."""
    qualifying = [e for e in ranked if e.fails is None and not e.synthetic and e.tg_tps]
    if not qualifying:
        return f"On {device}, no level meets the budget; loosen --max-kld/--min-acc or try a larger model."
    best = qualifying[0]
    levels = sort_levels(e.level for e in ranked if e.model == best.model and (e.tg_tps or 0) > 0)
    quantized = [lv for lv in levels if lv not in UNQUANTIZED]
    reference_level = "Q8_0" if "Q8_0" in levels else (quantized or levels)[0]
    reference = next(e for e in ranked if e.model == best.model and e.level == reference_level and (e.tg_tps or 0) > 0)
    if reference.level == best.level:
        text = f"On {device}, {best.model} {best.level} is the fastest level within the budget ({best.tg_tps:.1f} t/s)."
    else:
        text = (f"On {device}, {best.model} {best.level} gives {best.tg_tps / reference.tg_tps:.2f}x the decode speed "
                f"of {reference.level} ({best.tg_tps:.1f} vs {reference.tg_tps:.1f} t/s){_cost(best, reference)}"
                f"{_size_share(best, reference)}.")
    if reference.level != best.level and _overlap(best, reference):
        text += (" The two decode speeds are within one standard deviation of each other on this run: more "
                 "repetitions (-r) would tell them apart.")
    if best.throttled:  # ranked because the user asked (--rank-throttled): say what its speed is
        text += f" {best.level} throttled while measured: that speed is not one the board held."
    faster = [e for e in ranked if e.fails and e.model == best.model and (e.tg_tps or 0) > best.tg_tps]
    if faster:
        text += (f" The faster {faster[0].level} ({faster[0].tg_tps:.1f} t/s) is outside the budget "
                 f"({faster[0].fails}).")
    return text


def _size_share(best: Entry, reference: Entry) -> str:
    """" at 41% of its file size"; nothing where the reference's size is recorded as 0."""
    return f" at {100 * best.size_mb / reference.size_mb:.0f}% of its file size" if reference.size_mb > 0 else ""


def _overlap(a: Entry, b: Entry) -> bool:
    """Whether the mean ± std ranges of two decode speeds overlap (a noisy machine, too few repetitions)."""
    return a.tg_tps - (a.tg_std or 0) <= b.tg_tps + (b.tg_std or 0)


def _cost(best: Entry, reference: Entry) -> str:
    parts = []
    if best.kld is not None and reference.kld is not None:
        parts.append(f"{best.kld - reference.kld:+.3f} KLD")
    if best.accuracy is not None and reference.accuracy is not None:
        parts.append(_accuracy_cost(compare(reference.accuracy, best.accuracy)))
    return f" for {' and '.join(parts)}" if parts else " (no quality measured to compare)"


def _accuracy_cost(c: Comparison) -> str:
    """The accuracy difference, called a difference only when the paired test says so."""
    what = f"{c.other.task} {c.other.metric}"
    if c.significant:
        return f"{c.delta:+.3f} {what} ({c.evidence()})"
    return (f"the same {what} within the noise ({c.other.value:.3f} vs {c.base.value:.3f}, {c.evidence()}"
            f"{f'; about {c.needed} questions would tell them apart' if c.needed else ''})")

