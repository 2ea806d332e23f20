"""Interop: a run's accuracy as OpenCompass's summary table and as an Ianvs leaderboard, and
lm-evaluation-harness results.json files read into the report beside edgeprof's numbers. The rows
are the recorded demo results (tests/fixtures/recorded/demo-vm: SmolLM2-135M at 8 levels)."""

from __future__ import annotations

import copy
import csv
import io
import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgeprof.cli.main import cli
from edgeprof.plot.document import to_markdown
from edgeprof.plot.leaderboard import Budget
from edgeprof.plot.report import build
from edgeprof.results import ianvs, opencompass
from edgeprof.results.lm_eval import comparison, read_lm_eval
from edgeprof.results.read import load_results

FIXTURES = Path(__file__).parent / "fixtures"
DEMO = FIXTURES / "recorded" / "demo-vm"
LM_EVAL = FIXTURES / "interop" / "lm_eval_results.json"


@pytest.fixture(scope="module")
def demo_results():
    return load_results([DEMO])


def test_lm_eval_results_are_read_with_their_stderr():
    scores = {(s.task, s.metric, s.filter): s for s in read_lm_eval(LM_EVAL)}
    hellaswag = scores["hellaswag", "acc_norm", "none"]
    assert (hellaswag.value, hellaswag.stderr, hellaswag.shots, hellaswag.n) == (0.5317, 0.00498, 0, 10042)
    assert hellaswag.model == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert scores["gsm8k", "exact_match", "strict-match"].stderr == 0.003195
    assert scores["gsm8k", "exact_match", "flexible-extract"].stderr is None  # "N/A" in the file
    assert scores["gsm8k", "exact_match", "strict-match"].shots == 5
    assert ("hellaswag", "alias", "none") not in scores and len(scores) == 7


def test_comparison_pairs_each_lm_eval_score_with_edgeprofs_rows(demo_results):
    lines = comparison(read_lm_eval(LM_EVAL), demo_results.of_kind("task"))
    norm = [line for line in lines if line[:2] == ("hellaswag", "acc_norm")]
    assert len(norm) == 8  # one per recorded level
    assert {line[5] for line in norm} == {"0.5317 ± 0.0050"}
    f16 = next(line for line in norm if line[7] == "F16")
    assert f16[11] == "0.5500 ± 0.1141" and f16[10] == "20"
    winogrande = [line for line in lines if line[0] == "winogrande"]
    assert winogrande == [("winogrande", "acc", "HuggingFaceTB/SmolLM2-135M-Instruct", "0", "1267", "0.5162 ± 0.0140",
                           *("–",) * 6)]  # not measured by edgeprof: shown as such, not as 0
    assert any(line[1] == "exact_match (flexible-extract)" and line[5] == "0.0152 (no stderr)" for line in lines)


def test_the_report_shows_lm_eval_beside_edgeprof(demo_results):
    doc = build(demo_results, [], Budget(None, None, None), read_lm_eval(LM_EVAL))
    md = to_markdown(doc, Path("."))
    assert "lm-evaluation-harness beside edgeprof" in md
    assert re.search(r"\| hellaswag \| acc_norm \| HuggingFaceTB/SmolLM2-135M-Instruct \| 0 \| 10042 \| "
                     r"0\.5317 ± 0\.0050 \|[^\n]*\| 0\.5500 ± 0\.1141 \|", md)


@pytest.mark.parametrize("content,problem", [
    ("{not json", "not JSON"), (json.dumps({"config": {}}), "no 'results' table"),
    (json.dumps({"results": {"hellaswag": {"alias": "hellaswag"}}}), "no acc, acc_norm"),
    (json.dumps({"results": {"hellaswag": 3}}), "results.hellaswag is not a table"),
])
def test_a_file_that_is_not_lm_eval_results_is_refused_in_one_line(tmp_path, content, problem):
    bad = tmp_path / "results.json"
    bad.write_text(content)
    result = CliRunner().invoke(cli, ["report", "--results", str(DEMO), "--lm-eval", str(bad), "--format", "ianvs",
                                      "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert result.output.strip().startswith(f"Error: {bad}: not an lm-evaluation-harness results file: {problem}")
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()  # refused before anything was written


def test_opencompass_summary_table(demo_results, tmp_path):
    result = CliRunner().invoke(cli, ["report", "--results", str(DEMO), "--format", "opencompass",
                                      "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "opencompass_summary.csv").read_text()
    table = list(csv.reader(io.StringIO(text)))
    header, lines = table[0], table[1:]
    assert header[:4] == ["dataset", "version", "metric", "mode"]
    assert "SmolLM2-135M-Instruct-F16" in header and len(header) == 4 + 8
    assert all(len(line) == len(header) for line in lines)
    by_metric = {line[2]: dict(zip(header, line)) for line in lines}
    assert list(by_metric) == ["accuracy", "accuracy_stderr", "acc_norm", "acc_norm_stderr"]
    assert by_metric["acc_norm"]["SmolLM2-135M-Instruct-F16"] == "55.00"
    assert by_metric["acc_norm_stderr"]["SmolLM2-135M-Instruct-Q3_K_M"] == "10.94"
    assert by_metric["accuracy"]["SmolLM2-135M-Instruct-Q4_0"] == "35.00"
    assert {line[0] for line in lines} == {"hellaswag"} and {line[3] for line in lines} == {"ll"}
    assert re.fullmatch(r"[0-9a-f]{6}", lines[0][1])


def test_opencompass_puts_chat_prompting_in_the_model_column(demo_results):
    rows = demo_results.of_kind("task")
    chat = copy.deepcopy(rows[0])
    chat["task"].update(chat=True, chat_template={"source": "gguf", "sha256": "ab" * 32})
    chat["metrics"].update(acc_norm=0.4, acc_norm_stderr=0.1124)
    table = opencompass.summary_table([rows[0], chat])
    assert table[0][4:] == ["SmolLM2-135M-Instruct-F16", "SmolLM2-135M-Instruct-F16-chat"]
    assert ["hellaswag", table[1][1], "acc_norm", "ll", "55.00", "40.00"] in table


def test_ianvs_leaderboard(demo_results, tmp_path):
    result = CliRunner().invoke(cli, ["report", "--results", str(DEMO), "--format", "ianvs", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "ianvs_rank.csv").read_text()
    table = list(csv.reader(io.StringIO(text), delimiter=" "))  # pandas' sep=" " quoting
    header, lines = table[0], table[1:]
    assert header[:2] == ["rank", "algorithm"] and header[-2:] == ["time", "url"]
    for name in ("accuracy", "accuracy_stderr", "latency", "throughput", "prefill_latency", "mem_usage", "paradigm",
                 "basemodel", "basemodel-quant"):
        assert name in header
    assert all(len(line) == len(header) for line in lines) and len(lines) == 8
    col = {name: i for i, name in enumerate(header)}
    assert [line[0] for line in lines] == [str(i) for i in range(1, 9)]
    accuracies = [float(line[col["accuracy"]]) for line in lines]
    assert accuracies == sorted(accuracies, reverse=True) and accuracies[0] == 0.65  # Q3_K_M's acc_norm
    assert lines[0][col["basemodel-quant"]] == "Q3_K_M" and lines[0][col["paradigm"]] == "singletasklearning"
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", line[col["time"]]) for line in lines)
    q8 = next(line for line in lines if line[col["basemodel-quant"]] == "Q8_0")
    q8_speed = [r for r in demo_results.speed if r["model"]["level"] == "Q8_0"]
    assert any(abs(float(q8[col["mem_usage"]]) - r["memory"]["peak_rss_mb"] * 2**20) < 1 and
               float(q8[col["latency"]]) == pytest.approx(r["metrics"]["total_ms_mean"], rel=1e-5) for r in q8_speed)
    assert float(q8[col["throughput"]]) > 0


def test_ianvs_writes_what_was_not_measured_as_missing_never_zero(demo_results):
    speed_only = [r for r in demo_results.rows if r.get("kind", "speed") == "speed"][:1]
    speed_only[0] = copy.deepcopy(speed_only[0])
    speed_only[0]["memory"].pop("peak_rss_mb", None)
    text = ianvs.to_csv(ianvs.leaderboard(speed_only, None))
    header, line = list(csv.reader(io.StringIO(text), delimiter=" "))
    row = dict(zip(header, line))
    assert row["accuracy"] == "" and row["mem_usage"] == "" and row["latency"] != ""
    assert ' "" ' in text.splitlines()[1]  # a quoted empty cell: whitespace-delimited readers keep the column


def test_export_without_task_rows_is_refused(tmp_path):
    folder = tmp_path / "speed-only"
    folder.mkdir()
    lines = [line for line in (DEMO / "bench.jsonl").read_text().splitlines() if json.loads(line)["kind"] != "task"]
    (folder / "bench.jsonl").write_text("\n".join(lines) + "\n")
    result = CliRunner().invoke(cli, ["report", "--results", str(folder), "--format", "opencompass",
                                      "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "--format opencompass: the results hold no task accuracy to export" in result.output
    shutil.rmtree(folder)
