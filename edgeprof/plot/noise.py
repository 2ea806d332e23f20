"""How far an accuracy can be trusted: its 95% interval, and whether two levels answered the same
questions differently beyond chance. Every level of a sweep answers the same questions, so the
paired test (McNemar's exact test on the questions one level got right and the other wrong) sees
what two overlapping intervals cannot; it also gives how many questions would tell two levels
apart. Nothing in the report or figures calls one level more accurate than another unless this
test says so."""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations

from edgeprof.plot.quality import Accuracy
from edgeprof.results.read import level_rank

ALPHA = 0.05
Z_ALPHA = 1.959964  # two-sided 5%
Z_POWER = 0.841621  # 80% power: the usual planning target


def interval95(p: float, n: int | None) -> tuple[float, float] | None:
    """Wilson's 95% interval of a proportion (stays inside [0, 1] and is honest at n = 20, where
    p ± 1.96 SE is not)."""
    if not n:
        return None
    centre = (p + Z_ALPHA**2 / (2 * n)) / (1 + Z_ALPHA**2 / n)
    half = Z_ALPHA * math.sqrt(p * (1 - p) / n + Z_ALPHA**2 / (4 * n * n)) / (1 + Z_ALPHA**2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def mcnemar_p(b: int, c: int) -> float:
    """Exact two-sided McNemar p: under 'no difference' each of the b + c discordant questions is a
    fair coin."""
    k, n = min(b, c), b + c
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2**n) if n else 1.0


def paired_questions_needed(b: int, c: int, n: int) -> int | None:
    """Questions for an 80% chance that McNemar's test at p < 0.05 finds the gap, if the observed
    discordant rates hold (Connor 1987); None when no gap was observed."""
    psi, delta = (b + c) / n, (c - b) / n
    if delta == 0:
        return None
    return math.ceil((Z_ALPHA * math.sqrt(psi) + Z_POWER * math.sqrt(psi - delta**2)) ** 2 / delta**2)


def two_proportion_p(p1: float, n1: int, p2: float, n2: int) -> float:
    """Two-sided p of a two-proportion z test: the fallback when per-question outcomes are missing."""
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    return 1.0 if spread == 0 else math.erfc(abs(p1 - p2) / spread / math.sqrt(2))


def unpaired_questions_needed(p1: float, p2: float) -> int | None:
    """The same for two independent samples (outcomes missing): a two-proportion z test."""
    if p1 == p2:
        return None
    return math.ceil((Z_ALPHA + Z_POWER) ** 2 * (p1 * (1 - p1) + p2 * (1 - p2)) / (p1 - p2) ** 2)


@dataclass(frozen=True)
class Comparison:
    base: Accuracy
    other: Accuracy
    n: int  # questions compared (both answered)
    worse: int  # base right, other wrong
    better: int  # base wrong, other right
    p: float  # McNemar exact when paired, else a two-proportion z test
    needed: int | None  # questions that would tell them apart (80% power); None: no gap observed
    paired: bool = True  # False: per-question outcomes missing for one of the two

    @property
    def delta(self) -> float:
        return self.other.value - self.base.value

    @property
    def significant(self) -> bool:
        return self.p < ALPHA

    def evidence(self) -> str:
        """What the verdict rests on, for the text beside it."""
        if not self.paired:
            return f"two-proportion z test p = {self.p:.2g}: per-question outcomes not found"
        return f"McNemar exact p = {self.p:.2g}, {self.worse + self.better} of {self.n} questions answered differently"


def compare(base: Accuracy, other: Accuracy) -> Comparison:
    if base.outcomes and other.outcomes:
        shared = base.outcomes.keys() & other.outcomes.keys()
        worse = sum(1 for q in shared if base.outcomes[q] and not other.outcomes[q])
        better = sum(1 for q in shared if other.outcomes[q] and not base.outcomes[q])
        needed = paired_questions_needed(worse, better, len(shared)) if shared else None
        return Comparison(base, other, len(shared), worse, better, mcnemar_p(worse, better), needed)
    n1, n2 = base.n or 0, other.n or 0
    p = two_proportion_p(base.value, n1, other.value, n2) if n1 and n2 else 1.0
    return Comparison(base, other, min(n1, n2), 0, 0, p, unpaired_questions_needed(base.value, other.value), False)


@dataclass(frozen=True)
class Verdict:
    """One model's levels on one task: each level against the most precise one, and every pair."""
    model: str
    task: str
    metric: str
    scores: list[Accuracy]  # most precise level first
    pairs: list[Comparison]

    @property
    def separable(self) -> list[Comparison]:
        return [c for c in self.pairs if c.significant]

    @property
    def against_base(self) -> list[Comparison]:
        return [c for c in self.pairs if c.base is self.scores[0]]


def verdicts(accs: dict[str, dict[str, Accuracy]]) -> list[Verdict]:
    """Per model and task (with two levels or more): every pair of levels compared."""
    groups: dict[tuple[str, str], list[Accuracy]] = {}
    for per_task in accs.values():
        for acc in per_task.values():
            groups.setdefault((acc.model, acc.task), []).append(acc)
    out = []
    for (model, task), scores in groups.items():
        scores = sorted(scores, key=lambda a: (level_rank(a.level), a.level))
        if len(scores) > 1:
            out.append(Verdict(model, task, scores[0].metric, scores,
                               [compare(a, b) for a, b in combinations(scores, 2)]))
    return out


def is_smoke_test(verdict: Verdict) -> bool:
    """No two levels told apart: the accuracy shows the path works, it ranks nothing."""
    return not verdict.separable


def describe(verdict: Verdict) -> str:
    """The sentence the report prints under the accuracy numbers."""
    n = max(a.n or 0 for a in verdict.scores)
    values = [a.value for a in verdict.scores]
    what = f"{verdict.task} {verdict.metric} of {verdict.model} on {n} questions"
    if is_smoke_test(verdict):
        return (f"Accuracy is a smoke test here, not a ranking: {what} ranges {min(values):.3f}–{max(values):.3f} "
                f"across {len(values)} levels, but no two levels differ beyond the noise "
                f"({_smallest_p(verdict)}; 95% intervals ±{_half_width(verdict):.2f}).{_to_tell_apart(verdict)}")
    paired = all(c.paired for c in verdict.pairs)
    how = f"McNemar's exact test on each pair's paired answers, p < {ALPHA:g}" if paired else \
        "two-proportion z tests: per-question outcomes not found"
    return f"{what}: {_differences(verdict)} ({how})."


def _differences(verdict: Verdict) -> str:
    """The levels that differ from the most precise one beyond the noise, then how many pairs of
    the others do: every level not named is within the noise."""
    base = verdict.scores[0]
    lost = [c for c in verdict.against_base if c.significant]
    among = [c for c in verdict.pairs if c.base is not base]
    apart = [c for c in among if c.significant]
    text = "; ".join(f"{c.other.level} {'below' if c.delta < 0 else 'above'} {base.level} ({c.other.value:.3f} vs "
                     f"{base.value:.3f}, {c.evidence()})" for c in lost)
    if not lost:
        text = f"no level differs from {base.level} beyond the noise"
    elif len(lost) < len(verdict.against_base):
        text += f"; the other levels are within the noise of {base.level}"
    return text + (f"; {len(apart)} of {len(among)} pairs of the other levels differ beyond it" if apart else "")


def _smallest_p(verdict: Verdict) -> str:
    smallest = f"smallest p = {min(c.p for c in verdict.pairs):.2g} over {len(verdict.pairs)} pairs"
    if all(c.paired for c in verdict.pairs):
        return f"McNemar's exact test on the paired answers, {smallest}"
    return f"two-proportion z tests, {smallest}; per-question outcomes not found, so no paired test"


def _half_width(verdict: Verdict) -> float:
    widths = [(iv[1] - iv[0]) / 2 for a in verdict.scores if (iv := interval95(a.value, a.n))]
    return max(widths, default=0.0)


def _to_tell_apart(verdict: Verdict) -> str:
    """The pair that would be confirmed with the fewest questions, and how many."""
    gaps = [c for c in verdict.pairs if c.needed]
    if not gaps:
        if all(c.paired and c.worse + c.better == 0 for c in verdict.pairs):
            return " Every level answered every question alike."
        return " Every level scored the same: there is no gap for more questions to confirm."
    c = min(gaps, key=lambda c: c.needed)
    how = ("80% power at p < 0.05 if the observed discordant rates hold, Connor's formula for McNemar's test"
           if c.paired else "80% power at p < 0.05, two-proportion z test")
    return (f" The clearest gap, {c.other.level} vs {c.base.level} ({c.delta:+.3f}), would take about "
            f"{c.needed} questions to confirm ({how}).")
