"""`edgeprof bench --tests llama-bench`: llama-bench's own tests, exported so that llama.cpp's
compare-llama-bench.py (the real script) pairs them one to one with llama-bench's rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from llama_scripts import run_compare

from edgeprof.bench.sweep import SweepSpec, plan
from edgeprof.cli.main import cli
from edgeprof.results.store import ResultStore

# llama-bench -p 16 -n 4 -pg 16,4 -d 0,16 runs these tests, in this order
LLAMA_BENCH_ARGS = ["--tests", "llama-bench", "-p", "16", "-n", "4", "-pg", "16,4", "-d", "0,16"]
LLAMA_BENCH_TESTS = ["pp16", "tg4", "pp16+tg4", "pp16@d16", "tg4@d16", "pp16+tg4@d16"]


@pytest.fixture(scope="module")
def q4(tiny_levels):
    return tiny_levels("Q4_0")["Q4_0"]


def bench(*args: str):
    result = CliRunner().invoke(cli, ["bench", *args, "-t", "2", "-r", "2", "--no-progress"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def export(q4, folder: Path, build: str, *args: str) -> Path:
    out = folder / f"{build}.json"
    bench(str(q4), *args, "--results", str(folder / build), "--export-llama-bench", str(out), "--export-build", build)
    return out


def test_plan_is_llama_bench_test_list():
    """llama-bench (tools/llama-bench): at each -d, a pp test per -p, a tg test per -n, a pg test per
    -pg; zero lengths make no test."""
    spec = SweepSpec(models=(Path("m.gguf"),), tests="llama-bench", n_prompt=(512, 0), n_gen=(128,),
                     n_pg=((512, 128), (64, 0)), n_depth=(0, 256))
    shapes = [(c.workload.n_prompt, c.workload.n_gen, c.workload.n_depth, c.workload.pg) for c in plan(spec)]
    assert shapes == [(512, 0, 0, False), (0, 128, 0, False), (512, 128, 0, True), (64, 0, 0, False),
                      (512, 0, 256, False), (0, 128, 256, False), (512, 128, 256, True), (64, 0, 256, False)]
    assert plan(spec)[0].context.n_ctx >= 256 + 512 + 128
    edgeprof = SweepSpec(models=(Path("m.gguf"),), n_prompt=(512,), n_gen=(128,), n_depth=(0, 256))
    assert [(c.workload.n_prompt, c.workload.n_gen, c.workload.n_depth) for c in plan(edgeprof)] == [
        (512, 128, 0), (512, 128, 256)]


def test_llama_bench_mode_measures_and_exports_each_test(q4, tmp_path):
    result = bench(str(q4), *LLAMA_BENCH_ARGS, "--results", str(tmp_path),
                   "--export-llama-bench", str(tmp_path / "lb.json"))
    rows = list(ResultStore(tmp_path).rows())
    assert [(r["settings"]["n_prompt"], r["settings"]["n_gen"], r["settings"]["n_depth"]) for r in rows] == [
        (16, 0, 0), (0, 4, 0), (16, 4, 0), (16, 0, 16), (0, 4, 16), (16, 4, 16)]
    pp, tg, pg = rows[:3]
    assert pp["metrics"]["tg_samples_ns"] == [] and pp["metrics"]["tokens_generated_mean"] == 0
    assert tg["metrics"]["pp_samples_ns"] == [] and tg["metrics"]["tg_tps_mean"] > 0
    assert pg["settings"]["pg"] is True and "pg" not in pp["settings"]
    for name in LLAMA_BENCH_TESTS:
        assert f" {name} " in result.output, name
    entries = json.loads((tmp_path / "lb.json").read_text())
    assert [(e["n_prompt"], e["n_gen"], e["n_depth"]) for e in entries] == [
        (16, 0, 0), (0, 4, 0), (16, 4, 0), (16, 0, 16), (0, 4, 16), (16, 4, 16)]
    # a pg test is timed over its prompt and its generation together, as llama-bench times it
    m = pg["metrics"]
    assert entries[2]["samples_ns"] == [a + b for a, b in zip(m["pp_samples_ns"], m["tg_samples_ns"])]
    assert entries[2]["samples_ts"] == pytest.approx([20 / (ns / 1e9) for ns in entries[2]["samples_ns"]])
    assert all(e["n_threads"] == 2 and e["n_batch"] == 2048 and e["n_ubatch"] == 512 and e["type_k"] == "f16"
               and e["flash_attn"] == -1 and e["n_gpu_layers"] == 0 and e["build_commit"] == "edgeprof"
               for e in entries)


def test_export_names_the_machine_as_llama_bench_does(q4, tmp_path):
    """compare-llama-bench.py pairs rows only when cpu_info, gpu_info and backends match, and
    llama-bench takes them from ggml's devices: so does the export."""
    import platform

    import llama_cpp

    from edgeprof.bench.system import cpu_model, ggml_devices

    devices = ggml_devices()
    if platform.machine() == "x86_64":  # ggml-cpu describes an x86 CPU by /proc/cpuinfo's model name
        assert devices["cpu_info"] == cpu_model()
    assert (devices["backends"] == "CPU") == (not llama_cpp.llama_supports_gpu_offload())
    out = export(q4, tmp_path, "edgeprof", "-p", "8", "-n", "2")
    assert all({k: e[k] for k in devices} == devices for e in json.loads(out.read_text()))


def test_compare_llama_bench_pairs_every_test(q4, tmp_path):
    """The real compare-llama-bench.py on two exports of the same tests: every test paired, named as
    llama-bench names it, with the t/s of each side."""
    baseline = export(q4, tmp_path, "baseline", *LLAMA_BENCH_ARGS)
    ours = export(q4, tmp_path, "edgeprof", *LLAMA_BENCH_ARGS)
    table = run_compare([baseline, ours], "baseline", "edgeprof", tmp_path)
    assert [row["Test"] for row in table] == sorted(LLAMA_BENCH_TESTS, key=_script_order)
    theirs = {_name(e): e["avg_ts"] for e in json.loads(baseline.read_text())}
    mine = {_name(e): e["avg_ts"] for e in json.loads(ours.read_text())}
    for row in table:
        assert float(row["t/s baseline"]) == pytest.approx(theirs[row["Test"]], rel=1e-3)
        assert float(row["t/s edgeprof"]) == pytest.approx(mine[row["Test"]], rel=1e-3)


def test_compare_llama_bench_pairs_a_cell_tg_at_its_real_depth(q4, tmp_path):
    """An edgeprof pp16+tg4 cell decodes after its prompt: the script pairs its tg with llama-bench's
    tg4 @ d16, not with the empty-context tg4."""
    baseline = export(q4, tmp_path, "baseline", *LLAMA_BENCH_ARGS)
    cell = export(q4, tmp_path, "edgeprof", "-p", "16", "-n", "4")
    table = run_compare([baseline, cell], "baseline", "edgeprof", tmp_path)
    assert sorted(row["Test"] for row in table) == ["pp16", "tg4@d16"]


@pytest.mark.parametrize("args, message", [
    (["-pg", "16,4"], "-pg 16,4: prompt+generation pairs are llama-bench's pg tests; add --tests llama-bench"),
    (["--tests", "llama-bench", "-pg", "16"], "-pg '16': write one PROMPT,GEN pair"),
    (["--tests", "llama-bench", "-p", "0", "-n", "0"], "--tests llama-bench: no test to run"),
    (["--tests", "llama-bench", "--prompt-file", "prompt.txt"], "llama-bench's tests decode random tokens"),
])
def test_llama_bench_mode_refuses_what_it_cannot_run(q4, tmp_path, args, message):
    (tmp_path / "prompt.txt").write_text("A real prompt has one length.")
    result = CliRunner().invoke(cli, ["bench", str(q4), *args, "--results", str(tmp_path), "--no-progress"])
    assert result.exit_code == 1 and message in result.output, result.output
    assert not list(ResultStore(tmp_path).rows())


def _name(entry: dict) -> str:
    from edgeprof.results.export import test_name

    return test_name(entry["n_prompt"], entry["n_gen"], entry["n_depth"])


def _script_order(name: str) -> tuple:
    """compare-llama-bench.py orders its rows by n_gen, n_prompt, n_depth."""
    test, _, depth = name.partition("@d")
    parts = dict((p[:2], int(p[2:])) for p in test.split("+"))
    return parts.get("tg", 0), parts.get("pp", 0), int(depth or 0)
