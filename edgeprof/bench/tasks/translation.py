"""Translation scores: chrF and BLEU over the whole corpus of a run, computed by sacrebleu.

BLEU and chrF are corpus statistics (n-gram counts summed over every sentence, then one score), not
means of per-sentence scores, so a run's outcomes are scored together here, once. Each score comes
with sacrebleu's signature (what was computed: tokenizer, smoothing, version, bootstrap) and
sacrebleu's bootstrap 95% confidence interval over sentences (1000 resamples, seeded by sacrebleu:
``seed`` in the signature), kept as sacrebleu prints it: ``*_bootstrap_mean`` ± ``*_ci95_half``
(``sacrebleu --confidence`` gives the same numbers). ``*_stderr`` is that half-width / 1.96, the
normal approximation of the bootstrap's spread. One sentence has no spread to resample: interval
and stderr are then absent, with the reason.
"""

from __future__ import annotations

N_BOOTSTRAP = 1000
METRICS = ("chrf", "bleu")  # chrF first: it is the headline (BLEU is unreliable on one sentence or few)


def corpus_metrics(outcomes: list[dict], tokenize: str) -> dict:
    """``outcomes``: one dict per sentence with 'hypothesis' and 'reference'. ``tokenize``: the BLEU
    tokenizer ('zh' for a Chinese target, '13a' otherwise); chrF uses its defaults."""
    from sacrebleu.metrics import BLEU, CHRF

    hypotheses = [o["hypothesis"] for o in outcomes]
    references = [[o["reference"] for o in outcomes]]
    result: dict = {"n": len(outcomes)}
    for name, metric in (("chrf", CHRF()), ("bleu", BLEU(tokenize=tokenize))):
        result.update(_scored(name, metric, hypotheses, references))
    return result


def _scored(name: str, metric, hypotheses: list[str], references: list[list[str]]) -> dict:
    resample = len(hypotheses) > 1
    score = metric.corpus_score(hypotheses, references, n_bootstrap=N_BOOTSTRAP if resample else 1)
    out = {name: score.score, f"{name}_signature": str(metric.get_signature())}
    if resample:
        half = float(score._ci)  # sacrebleu keeps its interval on the Score it returns
        out.update({f"{name}_ci95_half": round(half, 6), f"{name}_bootstrap_mean": round(float(score._mean), 6),
                    f"{name}_stderr": round(half / 1.96, 6)})
    else:
        out[f"{name}_stderr_absent"] = "one sentence: nothing to resample"
    return out

