"""Translation task rows (task kind 'translate') for people to read: corpus chrF and BLEU as
sacrebleu computed them, each ± its bootstrap standard error with sacrebleu's 95% interval, kept
apart from accuracy tables (a 0-100 corpus score is not a share of questions answered)."""

from __future__ import annotations

HEADER = ("task", "shots", "n", "chrF", "BLEU", "sent/s", "BLEU signature")
CAPTION = ("corpus chrF and BLEU (sacrebleu) ± bootstrap standard error [sacrebleu's 95% interval: bootstrap mean "
           "± half-width]; the signature says how BLEU was computed (tokenizer, bootstrap size and seed, version)")


def is_translation(row: dict) -> bool:
    return (row.get("task") or {}).get("kind") == "translate"


def cells(row: dict) -> tuple[str, ...]:
    """One row's cells under ``HEADER``."""
    m, t = row["metrics"], row["task"]
    speed = (row.get("eval") or {}).get("examples_per_s")
    return (t["name"] + (" (chat)" if t.get("chat") else ""), str(t.get("shots")), str(m.get("n")),
            score(m, "chrf"), score(m, "bleu"), "-" if speed is None else f"{speed:.2f}",
            str(m.get("bleu_signature") or "-"))


def score(metrics: dict, name: str) -> str:
    """'23.41 ± 1.20 [95% 21.0, 25.7]', or what of it was recorded; '-' when nothing was."""
    value = metrics.get(name)
    if not isinstance(value, int | float):
        return "-"
    text = f"{value:.2f}"
    stderr, mean, half = (metrics.get(f"{name}_{k}") for k in ("stderr", "bootstrap_mean", "ci95_half"))
    if isinstance(stderr, int | float):
        text += f" ± {stderr:.2f}"
    if isinstance(mean, int | float) and isinstance(half, int | float):
        text += f" [95% {max(mean - half, 0):.1f}, {min(mean + half, 100):.1f}]"  # both scores lie in 0-100
    return text
