"""Quality scorers on tiny real models: multiple-choice log-likelihood, perplexity, KL-divergence."""

from __future__ import annotations

import json

import numpy as np
import pytest
from reference import forward
from tiny import TinySpec

from edgeprof.bench.engine import Context, ContextSettings, Model
from edgeprof.bench.quality.loglik import log_softmax, pick, score_choices
from edgeprof.bench.quality.perplexity import evaluate
from edgeprof.quantize.pipeline import ConvertOptions, convert

SPEC = TinySpec(tied=True)


@pytest.fixture(scope="module")
def files(tiny_factory, tmp_path_factory):
    folder, weights, f16 = tiny_factory(SPEC)
    out = tmp_path_factory.mktemp("quality")
    rows = convert(str(f16), ConvertOptions(levels=("Q8_0", "Q4_0", "Q2_K"), out_dir=out, progress=False, threads=2),
                   say=lambda _: None)
    return {"folder": folder, "weights": weights, **{r.level: r.path for r in rows}}


def context(path, n_ctx=256):
    model = Model(path)
    return model, Context(model, ContextSettings(n_ctx=n_ctx, n_batch=256, n_ubatch=256, n_threads=2, n_seq_max=2))


def brute_force(ctx: Context, tokens: list[int], n_context: int) -> float:
    """Log-prob of tokens[n_context:] by decoding the whole sequence afresh (no cache copying)."""
    ctx.clear()
    ctx.decode(tokens, 0, want_logits=True, all_logits=True)
    rows = log_softmax(ctx.all_logits(len(tokens)))
    return float(sum(rows[i - 1, tokens[i]] for i in range(n_context, len(tokens))))


def test_shared_prefix_scoring_equals_fresh_evaluation(files):
    model, ctx = context(files["F16"])
    with model, ctx:
        prompt = "Question: which level is smallest?\nAnswer:"
        choices = [" Q2_K is the smallest", " Q8_0", " the F16 file, by far"]
        scores = score_choices(ctx, prompt, choices)
        for choice, score in zip(choices, scores):
            whole = model.tokenize(prompt + choice)
            n_context = len(model.tokenize(prompt))
            assert score.logprob == pytest.approx(brute_force(ctx, whole, n_context), abs=1e-3)
            assert score.n_tokens == len(whole) - n_context


def test_the_likeliest_answer_wins_and_acc_norm_divides_by_length(files):
    model, ctx = context(files["F16"])
    with model, ctx:
        prompt = "The next token is"
        ctx.clear()
        tokens = model.tokenize(prompt)
        ctx.prefill(tokens, 0)
        lp = log_softmax(ctx.logits())
        order = np.argsort(-lp)
        best, worst = int(order[0]), int(order[-1])
        choices = [model.piece(t).decode("utf-8", errors="ignore") for t in (worst, best)]
        scores = score_choices(ctx, prompt, choices)
        acc, _ = pick(scores, choices)
        assert acc == 1 and scores[1].is_greedy


def test_perplexity_matches_numpy_reference(files):
    config = json.loads((files["folder"] / "config.json").read_text())
    tokens = list(np.random.default_rng(0).integers(3, 600, size=128))
    model, ctx = context(files["F16"], n_ctx=64)
    with model, ctx:
        result, _ = evaluate(ctx, tokens, 64, bos=None)
    expected = []
    for start in (0, 64):
        window = tokens[start:start + 64]
        lp = log_softmax(forward(files["weights"], config, window))
        expected += [lp[p, window[p + 1]] for p in range(31, 63)]
    assert result["ppl_tokens"] == 64
    assert result["ppl"] == pytest.approx(float(np.exp(-np.mean(expected))), rel=2e-3)


def test_kld_is_zero_against_itself_and_grows_as_bits_fall(files):
    tokens = list(np.random.default_rng(1).integers(3, 600, size=256))
    model, ctx = context(files["F16"], n_ctx=64)
    with model, ctx:
        _, baseline = evaluate(ctx, tokens, 64, bos=None)
        same, _ = evaluate(ctx, tokens, 64, bos=None, baseline=baseline)
    assert same["kld_mean"] < 1e-6 and same["same_top_token_rate"] == 1.0
    kld = {}
    for level in ("Q8_0", "Q4_0", "Q2_K"):
        model, ctx = context(files[level], n_ctx=64)
        with model, ctx:
            kld[level], _ = evaluate(ctx, tokens, 64, bos=None, baseline=baseline)
    assert 0 < kld["Q8_0"]["kld_mean"] < kld["Q4_0"]["kld_mean"] < kld["Q2_K"]["kld_mean"]
    assert kld["Q8_0"]["same_top_token_rate"] >= kld["Q2_K"]["same_top_token_rate"]
    assert kld["Q2_K"]["kld_p99"] >= kld["Q2_K"]["kld_median"]
