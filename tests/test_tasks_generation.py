"""Generation scoring: the answer extractors (regex, first option letter, exact), the normalisation
both sides get before exact match, BIG-Bench Hard (answer-only and chain-of-thought, from the
release's files and the hub layout) and DeepMind mathematics (the release's text files).

Fixtures (tests/fixtures/tasks/, see the README there): BBH's own files for three subtasks, cut to
six questions each (MIT); DeepMind mathematics questions made by its own generator (Apache-2.0).
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from tiny import TinySpec

from edgeprof.bench.engine import Context, ContextSettings, Model
from edgeprof.bench.tasks import prompts, score
from edgeprof.bench.tasks.answers import exact, first_letter, normalise_math, normalise_text, regex
from edgeprof.bench.tasks.data import _dev_split, load
from edgeprof.bench.tasks.definition import load_task, task_dir
from edgeprof.bench.tasks.examples import to_examples
from edgeprof.bench.tasks.metrics import extract
from edgeprof.bench.tasks.records import Located, read_split
from edgeprof.bench.tasks.text_formats import bbh_prompt
from edgeprof.cli.main import cli
from edgeprof.errors import EdgeprofError
from edgeprof.results.store import ResultStore

FIXTURES = Path(__file__).parent / "fixtures" / "tasks"
BBH = FIXTURES / "bbh"
MATH = FIXTURES / "math_dm"
SUBTASKS = ("boolean_expressions", "date_understanding", "object_counting")
COT_PATTERN = load_task("bbh_cot").generate.pattern


# --- extractors and normalisation -------------------------------------------------------------

@pytest.mark.parametrize("output,pattern,answer", [
    ("... 12/14/1937. So the answer is (D).", "[Tt]he answer is (.+)", "(D)."),
    ("the answer is 24.\nQ: next", "[Tt]he answer is (.+)", "24."),
    ("no verdict here", "[Tt]he answer is (.+)", None),
    ("x = 7 and y = 9", r"\d+", "7"),  # no group: the whole (first) match
])
def test_regex_takes_the_first_group_of_the_first_match(output, pattern, answer):
    assert regex(output, pattern) == answer
    assert extract("regex", output, pattern) == answer


@pytest.mark.parametrize("output,letter", [
    ("The answer is (C).", "C"), ("answer is: b", None), ("I pick (B) because (A) is wrong", "B"),
    ("B. Paris", "B"), ("D", "D"), (" E) none", "E"), ("A cat is not B", "B"), ("A long answer", None),
    ("Option C is right", "C"), ("nothing", None), ("F", None),
])
def test_first_letter(output, letter):
    assert first_letter(output) == letter == extract("first_letter", output)


@pytest.mark.parametrize("text,normal", [
    ("  (A).", "(A)"), ("} ] >.", "} ] >"), ("arson  aspect\ncensus", "arson aspect census"),
    ("Monsters, Inc", "Monsters, Inc"), ("3.5", "3.5"), ("", ""),
])
def test_text_normalisation(text, normal):
    assert normalise_text(text) == normal


@pytest.mark.parametrize("text,normal", [
    ("18.00", "18"), ("+0.50", "0.5"), ("-0.0", "0"), ("6/4", "3/2"), ("-4/2", "-2"), ("0.5", "0.5"),
    ("-2*x**2 + 3*x .", "-2*x**2+3*x"), ("-3, 2.0", "-3,2"), ("True", "True"), ("5/0", "5/0"),
    ("b'-20/3\\n'", "-20/3"), ("1e5", "1e5"), ("0.0000005", "0.0000005"), ("6769000000", "6769000000"),
])
def test_math_normalisation(text, normal):
    assert normalise_math(text) == normal


def test_exact_is_the_trimmed_whole_answer():
    assert exact("  (B) 12/14/1937 \n") == "(B) 12/14/1937" and exact(" \n") is None


# --- BIG-Bench Hard ---------------------------------------------------------------------------

def _cot_body(path: Path) -> str:
    """A cot-prompts file as the paper's code prepends it: everything after the canary's '-----'."""
    return path.read_text().split("-----\n", 1)[1]


def test_every_shipped_bbh_prompt_parses_and_its_reasoning_gives_its_answer():
    files = sorted((task_dir() / "bbh" / "cot-prompts").glob("*.txt"))
    assert len(files) == 27
    for path in files:
        with open(path, "rb") as f:
            records = bbh_prompt(f)
        assert len(records) == 3, path.name
        assert records[0]["lead"].endswith("\n\n") and len(records[0]["lead"]) > 10
        assert [r["lead"] for r in records[1:]] == ["", ""]
        for record in records:  # the CoT extraction, applied to the prompt's own reasoning
            assert normalise_text(regex(record["solution"], COT_PATTERN)) == record["target"], path.name
    for name in SUBTASKS:  # the fixtures hold the same prompt files
        assert (BBH / "cot-prompts" / f"{name}.txt").read_bytes() == \
            (task_dir() / "bbh" / "cot-prompts" / f"{name}.txt").read_bytes()


@pytest.mark.parametrize("name", ["bbh_cot", "bbh"])
def test_bbh_release_folder_loads_per_subtask(name):
    task = load_task(name)
    data = load(task, folder=BBH)
    assert len(data.test.examples) == 18 and len(data.dev.examples) == 9
    assert sorted({e.group for e in data.test.examples}) == [s.replace("_", " ") for s in SUBTASKS]
    release = json.loads((BBH / "bbh" / "date_understanding.json").read_text())["examples"]
    dates = [e for e in data.test.examples if e.group == "date understanding"]
    assert [e.answer for e in dates] == [r["target"] for r in release]
    assert [e.text["input"] for e in dates] == [r["input"] for r in release]


def test_bbh_cot_prompt_is_the_papers_prompt():
    """Shots from the subtask's own prompt file: the context is that file's text, a blank line,
    then the question opened the way the exemplars are."""
    task = load_task("bbh_cot")
    data = load(task, folder=BBH)
    for name in SUBTASKS:
        example = next(e for e in data.test.examples if e.group == name.replace("_", " "))
        shots = prompts.choose_shots(data.dev.examples, example, task.shots, same_pool=False)
        expected = _cot_body(BBH / "cot-prompts" / f"{name}.txt") + \
            f"\n\nQ: {example.text['input']}\nA: Let's think step by step."
        assert prompts.build(task, example, shots) == expected


def test_bbh_answer_only_prompt_answers_each_shot_with_its_target():
    task = load_task("bbh")
    data = load(task, folder=BBH)
    example = next(e for e in data.test.examples if e.group == "date understanding")
    text = prompts.build(task, example, prompts.choose_shots(data.dev.examples, example, 3, False))
    assert text.startswith("Infer the date from context.\n\nQ: Today is Christmas Eve of 1937.")
    assert re.findall(r"\nA: (.*)", text) == ["(D)", "(B)", "(B)"]
    assert text.endswith(f"Q: {example.text['input']}\nA:") and "step by step" not in text
    assert task.generate.extract == "exact" and task.generate.stop == ("\n",)


def test_bbh_hub_layout_groups_by_config_and_takes_the_shipped_prompts(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    for name in ("navigate", "ruin_names"):
        (tmp_path / name).mkdir()
        pq.write_table(pa.table({"input": [f"{name} question?"], "target": ["rita, sue and bob poo"]}),
                       tmp_path / name / "test-00000-of-00001.parquet")
    task = load_task("bbh_cot")
    hub = task.source("hub")
    located = Located(tmp_path, "hub lukaemon/bbh@test")
    test = to_examples(task, hub.fields, read_split(located, hub, hub.test))
    assert [(e.group, e.answer) for e in test.examples] == \
        [("navigate", "rita, sue and bob poo"), ("ruin names", "rita, sue and bob poo")]  # commas kept
    dev = _dev_split(task, hub, located)
    assert len(dev.examples) == 81 and {e.group for e in dev.examples} >= {"navigate", "ruin names"}
    shots = prompts.choose_shots(dev.examples, test.examples[0], 3, False)
    assert prompts.build(task, test.examples[0], shots).startswith("Given a series of navigation instructions")


# --- DeepMind mathematics ---------------------------------------------------------------------

def test_math_dm_release_text_files():
    task = load_task("math_dm")
    data = load(task, folder=MATH)
    assert data.source.name == "interpolate" and data.dev is None
    assert len(data.test.examples) == 30 and len({e.group for e in data.test.examples}) == 5
    first = data.test.examples[0]
    lines = (MATH / "interpolate" / "algebra__linear_1d.txt").read_text().splitlines()
    assert (first.group, first.text["question"], first.answer) == ("algebra  linear 1d", lines[0], lines[1])
    assert prompts.build(task, first, []) == f"Question: {lines[0]}\nAnswer:"
    harder = load(task, source="extrapolate", folder=MATH)
    assert len(harder.test.examples) == 12


def test_a_question_without_its_answer_is_one_clear_line(tmp_path):
    (tmp_path / "interpolate").mkdir()
    (tmp_path / "interpolate" / "numbers__gcd.txt").write_text("What is 2 + 2?\n4\nWhat is 3 + 3?\n")
    with pytest.raises(EdgeprofError) as error:
        load(load_task("math_dm"), folder=tmp_path)
    assert str(error.value) == f"{tmp_path / 'interpolate' / 'numbers__gcd.txt'}: cannot read task data: " \
                               "line 3: a question without its answer line"


@pytest.mark.parametrize("generate,message", [
    ('extract = "regex"', "generate.pattern: extract = 'regex' needs a pattern"),
    ('extract = "regex"\npattern = "(unclosed"', "generate.pattern: '(unclosed': missing ), unterminated"),
    ('normalise = "roman"', "generate.normalise: 'roman': use one of none, text, math"),
])
def test_bad_generate_settings_name_file_and_problem(tmp_path, generate, message):
    path = tmp_path / "bad.toml"
    path.write_text(f'kind = "generate"\n[generate]\n{generate}\n[sources.a]\nfolder = ""\ntest = "x"\nfields = {{}}\n')
    with pytest.raises(EdgeprofError) as error:
        load_task(str(path))
    assert str(error.value).startswith(f"{path}: ") and message in str(error.value)


def test_an_unknown_reader_is_refused(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('kind = "generate"\n[sources.a]\nfolder = ""\ntest = "x"\nreaders = { txt = "poem" }\n'
                    'fields = {}\n')
    with pytest.raises(EdgeprofError, match="sources.a.readers: .*readers: bbh_prompt, qa_lines"):
        load_task(str(path))


# --- on real llama.cpp ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_f16(tiny_factory):
    return tiny_factory(TinySpec(tied=True))[2]


def _greedy_text(path: Path, text: str, max_tokens: int) -> str:
    """The greedy continuation decoded token by token, without the scorer."""
    model = Model(path)
    ctx = Context(model, ContextSettings(n_ctx=4096, n_batch=512, n_ubatch=512, n_threads=2, n_seq_max=1,
                                         flash_attn=False))
    with model, ctx:
        tokens = model.tokenize(text)
        ctx.prefill(tokens, 0)
        raw = b""
        for step in range(max_tokens):
            token = int(np.argmax(ctx.logits()))
            if model.is_eog(token):
                break
            raw += model.piece(token)
            ctx.decode_one(token, len(tokens) + step)
    return raw.decode("utf-8", errors="ignore")


def test_bbh_cot_on_a_tiny_model_end_to_end(tiny_f16, tmp_path):
    """Three 3-shot CoT questions through `edgeprof bench`: a row with per-subtask and macro scores,
    each output the greedy continuation cut at the first stop, each answer read by the task's rule."""
    shorter = tmp_path / "bbh_cot.toml"  # the shipped file, generating 64 tokens instead of 256 (time)
    shorter.write_text((task_dir() / "bbh_cot.toml").read_text().replace("max_tokens = 256", "max_tokens = 64"))
    result = CliRunner().invoke(cli, ["bench", str(tiny_f16), "--tasks", str(shorter), "--task-data", f"bbh_cot={BBH}",
                                      "--limit", "3", "--seed", "1", "--task-ctx", "4096", "--no-speed",
                                      "--no-progress", "-t", "2", "--results", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    (row,) = [r for r in ResultStore(tmp_path / "r").rows() if r.get("kind") == "task"]
    metrics, task = row["metrics"], load_task(str(shorter))
    assert task.generate.max_tokens == 64 and len(metrics["groups"]) == 2
    assert row["task"]["shots"] == 3 and metrics["n"] == 3 and row["task"]["source"] == f"folder {BBH}"
    details = [json.loads(line) for line in (tmp_path / "r" / row["details"]).read_text().splitlines()]
    assert metrics["exact_match"] == sum(d["exact_match"] for d in details) / 3
    assert metrics["exact_match_macro"] == pytest.approx(
        sum(g["exact_match"] for g in metrics["groups"].values()) / len(metrics["groups"]))
    data = load(task, folder=BBH)
    by_id = {e.id: e for e in data.test.examples}
    first = by_id[details[0]["id"]]
    context = prompts.build(task, first, prompts.choose_shots(data.dev.examples, first, 3, False))
    expected = _greedy_text(tiny_f16, context, task.generate.max_tokens)
    for stop in task.generate.stop:
        expected = expected.split(stop)[0]
    assert details[0]["output"] == expected
    for outcome in details:
        found = regex(outcome["output"], task.generate.pattern)
        assert outcome["pred"] == (None if found is None else normalise_text(found))
        assert outcome["gold"] == by_id[outcome["id"]].answer
        assert outcome["exact_match"] == int(outcome["pred"] == outcome["gold"])
        assert 0 < outcome["n_generated"] <= task.generate.max_tokens


def test_exact_match_is_one_exactly_where_the_gold_is_what_the_model_says(tiny_f16, tmp_path):
    """Answer-only BBH on a copy of the fixture whose targets are rewritten: the model's own first
    line (with a different spacing and a full stop, which normalisation forgives) for the first
    question, something else for the second; exact match must be [1, 0]."""
    task = replace(load_task("bbh"), generate=replace(load_task("bbh").generate, max_tokens=12))
    data = load(task, folder=BBH)
    questions = [e for e in data.test.examples if e.group == "boolean expressions"][:2]
    said = []
    for example in questions:
        context = prompts.build(task, example, prompts.choose_shots(data.dev.examples, example, 3, False))
        said.append(" ".join(_greedy_text(tiny_f16, context, 12).split("\n")[0].split()))
    assert said[0], "the tiny model wrote nothing on the first line"
    golds = [f"{said[0].replace(' ', '  ')}.", said[1] + " (not this)"]
    copy = tmp_path / "bbh"
    (copy / "bbh").mkdir(parents=True)
    (copy / "cot-prompts").mkdir()
    (copy / "cot-prompts" / "boolean_expressions.txt").write_bytes(
        (BBH / "cot-prompts" / "boolean_expressions.txt").read_bytes())
    records = [{"input": e.text["input"], "target": g} for e, g in zip(questions, golds)]
    (copy / "bbh" / "boolean_expressions.json").write_text(json.dumps({"canary": "x", "examples": records}))
    data = load(task, folder=copy)
    outcomes: list[dict] = []
    model = Model(tiny_f16)
    ctx = Context(model, ContextSettings(n_ctx=4096, n_batch=512, n_ubatch=512, n_threads=2, n_seq_max=1,
                                         flash_attn=False))
    with model, ctx:
        score.score_examples(ctx, task, data.test.examples, data.dev.examples, 3, False, outcomes.append)
    assert [o["exact_match"] for o in outcomes] == [1, 0]
    assert outcomes[0]["pred"] == outcomes[0]["gold"] == normalise_text(said[0])


@pytest.mark.demo
def test_demo_math_dm_scores_and_records_each_answer(tmp_path):
    from edgeprof.quantize.demo import demo_gguf_path

    result = CliRunner().invoke(cli, ["bench", str(demo_gguf_path()), "--tasks", "math_dm", "--task-data",
                                      f"math_dm={MATH}", "--limit", "10", "--no-speed", "--no-progress", "-t", "2",
                                      "--results", str(tmp_path)])
    assert result.exit_code == 0, result.output
    (row,) = [r for r in ResultStore(tmp_path).rows() if r.get("kind") == "task"]
    details = [json.loads(line) for line in (tmp_path / row["details"]).read_text().splitlines()]
    assert row["metrics"]["n"] == 10 and row["metrics"]["exact_match_stderr"] is not None
    for outcome in details:
        assert outcome["pred"] == (None if not outcome["output"].strip() else normalise_math(outcome["output"]))
        assert outcome["exact_match"] == int(outcome["pred"] == outcome["gold"])
