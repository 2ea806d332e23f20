"""Parallel sequences: several users decoded together, one token each per step, on the real
llama.cpp with a tiny model. Aggregate t/s counts every sequence's tokens; per-sequence t/s and the
per-token latency are the step's."""

from __future__ import annotations

import pytest

from edgeprof.bench.engine import Context, Model
from edgeprof.bench.measure import Workload, greedy, measure, random_prompt, run_once
from edgeprof.bench.sweep import SweepSpec, plan, settings_of


@pytest.fixture(scope="module")
def q8(tiny_levels):
    return tiny_levels("Q8_0")["Q8_0"]


def test_each_parallel_sequence_generates_what_it_would_alone(q8):
    """Greedy decoding of a shared prompt: every sequence of a parallel batch must produce the tokens a
    single sequence produces (the batch changes the speed, never the result)."""
    spec = SweepSpec(models=(q8,), threads=(2,), n_prompt=(16,), n_gen=(6,), n_parallel=(3,), repetitions=1,
                     warmup=False)
    (cell,) = plan(spec)
    assert cell.context.n_seq_max == 3 and cell.context.n_ctx == 3 * 256
    with Model(q8) as model, Context(model, cell.context) as ctx:
        prompt = random_prompt(16, model.n_vocab, 1)
        (rep,) = measure(ctx, cell.workload, prompt)
        assert rep.tokens_generated == 3 * 6 and len(rep.decode_ns) == 6 and rep.n_parallel == 3
        outputs = [ctx.argmax_at(i) for i in range(3)]
        assert len(set(outputs)) == 1  # the same prompt, greedy: the same next token in every sequence
        single = Workload(n_prompt=16, n_gen=6, repetitions=1, warmup=False)
        alone = run_once(ctx, prompt, [], single.n_gen, False)
        assert greedy(ctx) == outputs[0] and alone.tokens_generated == 6


def test_parallel_cells_keep_old_cell_keys_and_report_per_sequence_rates(q8, tmp_path):
    from edgeprof.bench.api import Tally, measure_speed
    from edgeprof.model_file import open_model_files
    from edgeprof.results.store import ResultStore

    spec = SweepSpec(models=open_model_files((q8,)), threads=(2,), n_prompt=(8,), n_gen=(4,), n_parallel=(1, 2),
                     repetitions=2, sensors=())
    one, two = plan(spec)
    assert "n_parallel" not in settings_of(one) and settings_of(two)["n_parallel"] == 2
    store = ResultStore(tmp_path)
    measure_speed(spec, store, Tally(), progress=False)
    rows = {r["settings"].get("n_parallel", 1): r for r in store.rows()}
    m = rows[2]["metrics"]
    assert m["tokens_generated_mean"] == 8  # two sequences x four steps
    assert m["tg_tps_mean"] == pytest.approx(2 * m["tg_tps_per_seq_mean"], rel=1e-3)
    assert "tg_tps_per_seq_mean" not in rows[1]["metrics"]


def test_bench_parallel_option_records_aggregate_and_per_sequence_rates(q8, tmp_path):
    import json

    from click.testing import CliRunner

    from edgeprof.cli import cli

    result = CliRunner().invoke(cli, ["bench", str(q8), "-p", "8", "-n", "4", "-r", "1", "-t", "2", "--parallel", "1,2",
                                      "--sensors", "none", "--results", str(tmp_path), "--no-progress", "-o", "json"])
    assert result.exit_code == 0, result.output
    rows = {r["settings"].get("n_parallel", 1): r for r in json.loads(result.stdout)}
    assert set(rows) == {1, 2} and rows[2]["metrics"]["tokens_generated_mean"] == 8
    refused = CliRunner().invoke(cli, ["bench", str(q8), "--parallel", "0", "--results", str(tmp_path)])
    assert refused.exit_code == 1 and "--parallel" in refused.output and "LLAMA_MAX_SEQ" in refused.output
