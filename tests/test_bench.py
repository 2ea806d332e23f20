"""`edgeprof bench` on a tiny real model: the timed loop, the sweep, the store, the exports."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from edgeprof.cli.main import cli
from edgeprof.results.store import ResultStore


@pytest.fixture(scope="module")
def q4(tiny_levels):
    return tiny_levels("Q4_0")["Q4_0"]


def bench(*args: str):
    return CliRunner().invoke(cli, ["bench", *args, "--no-progress"], catch_exceptions=False)


def rows(folder) -> list[dict]:
    return list(ResultStore(folder).rows())


def test_sweep_measures_every_cell_and_stores_rows(q4, tmp_path):
    result = bench(str(q4), "-p", "16,32", "-n", "8", "-t", "1,2", "-r", "3", "--results", str(tmp_path))
    assert result.exit_code == 0, result.output
    stored = rows(tmp_path)
    assert len(stored) == 4 and all(r["status"] == "ok" for r in stored)
    assert ({(r["settings"]["n_threads"], r["settings"]["n_prompt"]) for r in stored}
            == {(1, 16), (1, 32), (2, 16), (2, 32)})
    row = stored[0]
    m = row["metrics"]
    assert len(m["pp_samples_ns"]) == 3 and len(m["tg_samples_ns"]) == 3
    assert len(m["token_latencies_ms"]) == 3 * 8
    assert m["pp_tps_mean"] > 0 and m["tg_tps_mean"] > 0 and m["pp_tps_std"] >= 0
    assert m["ttft_ms_mean"] >= m["prefill_ms_mean"] > 0
    assert m["token_ms_p50"] <= m["token_ms_p90"] <= m["token_ms_p99"] <= m["token_ms_max"]
    # tg t/s is tokens over the sum of the per-token decode times of each repetition
    expected = [8 / (ns / 1e9) for ns in m["tg_samples_ns"]]
    assert m["tg_tps_mean"] == pytest.approx(sum(expected) / 3, rel=1e-3)
    assert m["total_ms_mean"] >= m["ttft_ms_mean"]
    assert row["model"]["level"] == "Q4_0" and len(row["model"]["sha256"]) == 64
    for key in ("edgeprof_version", "llama_cpp_system_info", "cpu_model", "cpu_cores_logical", "ram_total_mb", "os",
                "kernel", "device_id"):
        assert row["system"][key], key
    assert row["memory"]["peak_rss_mb"] > row["memory"]["baseline_rss_mb"] > 0
    assert "decode" in row["resources"] and "prefill" in row["resources"]
    assert row["resources"]["decode"]["rss_mb_max"] > 0
    assert row["sampler"]["sampler_cpu_ms_per_sample"] >= 0
    assert "pp32+tg8" in result.output


def test_rerun_skips_completed_cells_unless_asked(q4, tmp_path):
    args = [str(q4), "-p", "16", "-n", "4", "-r", "2", "--results", str(tmp_path)]
    assert bench(*args).exit_code == 0
    again = bench(*args)
    assert "skipped 1 cells" in again.output
    assert len(rows(tmp_path)) == 1
    bench(*args, "--rerun")
    assert len(rows(tmp_path)) == 2


def test_interrupted_sweep_keeps_measured_cells_and_resumes(q4, tmp_path, monkeypatch):
    from edgeprof.bench import runner

    real = runner.measure
    calls = {"n": 0}

    def interrupt_second(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(runner, "measure", interrupt_second)
    args = [str(q4), "-p", "8,16,24", "-n", "4", "-r", "1", "--results", str(tmp_path)]
    result = CliRunner().invoke(cli, ["bench", *args, "--no-progress"])
    assert result.exit_code == 130
    assert "rerun the same command to resume" in result.output
    assert len(rows(tmp_path)) == 1
    monkeypatch.setattr(runner, "measure", real)
    resumed = bench(*args)
    assert "skipped 1 cells" in resumed.output
    assert sorted(r["settings"]["n_prompt"] for r in rows(tmp_path)) == [8, 16, 24]


def test_torn_last_line_is_skipped_and_not_glued(tmp_path):
    from pathlib import Path

    recorded = Path(__file__).parent / "fixtures" / "recorded" / "demo-vm" / "bench.jsonl"
    row = json.loads(recorded.read_text().splitlines()[0])
    store = ResultStore(tmp_path)
    store.append({**row, "cell": "a"})
    with open(store.path, "a") as f:
        f.write('{"cell": "b", "stat')  # power lost mid-write
    assert "a" in store.completed() and "b" not in store.completed()
    store.append({**row, "cell": "c"})
    assert [r["cell"] for r in store.rows()] == ["a", "c"]
    assert list(store.skipped.lines) == [(str(store.path), 2)]  # the torn line, counted with its place


def test_exports(q4, tmp_path):
    bench(str(q4), "-p", "16", "-n", "4", "-r", "2", "--results", str(tmp_path),
          "--export-llama-bench", str(tmp_path / "lb.json"))
    entries = json.loads((tmp_path / "lb.json").read_text())
    # decode ran after the 16-token prompt, so the tg test ran at depth 16, where llama-bench's own
    # tg4 @ d16 runs; labelled depth 0 it was paired with llama-bench's faster empty-context tg4
    assert [(e["n_prompt"], e["n_gen"], e["n_depth"]) for e in entries] == [(16, 0, 0), (0, 4, 16)]
    # the keys llama.cpp's compare-llama-bench.py requires, plus the figures it compares
    for field in ("cpu_info", "gpu_info", "backends", "n_gpu_layers", "n_cpu_moe", "tensor_buft_overrides",
                  "model_filename", "model_type", "n_batch", "n_ubatch", "embeddings", "cpu_mask", "cpu_strict",
                  "poll", "n_threads", "type_k", "type_v", "load_mode", "no_kv_offload", "split_mode", "main_gpu",
                  "tensor_split", "flash_attn", "n_prompt", "n_gen", "n_depth", "fit_target", "fit_min_ctx",
                  "build_commit", "test_time", "avg_ts", "model_size", "model_n_params", "avg_ns", "stddev_ns",
                  "stddev_ts", "samples_ns", "samples_ts"):
        assert field in entries[0], field
    assert entries[0]["model_type"].startswith("llama ")
    assert entries[1]["avg_ts"] == pytest.approx(sum(entries[1]["samples_ts"]) / 2)
    as_json = bench(str(q4), "-p", "16", "-n", "4", "-r", "2", "--results", str(tmp_path), "--output", "json")
    assert json.loads(as_json.stdout)[0]["status"] == "ok"
    as_csv = bench(str(q4), "-p", "16", "-n", "4", "-r", "2", "--results", str(tmp_path), "--output", "csv")
    assert as_csv.stdout.splitlines()[0].startswith("status,model,level")
    as_md = bench(str(q4), "-p", "16", "-n", "4", "-r", "2", "--results", str(tmp_path), "--output", "md")
    assert as_md.stdout.startswith("| model | level |")


def test_real_prompt_with_chat_template(q4, tmp_path):
    (tmp_path / "prompt.txt").write_text("Explain quantization in one sentence.")
    result = bench(str(q4), "--prompt-file", str(tmp_path / "prompt.txt"), "--chat", "-n", "6", "-r", "1",
                   "--results", str(tmp_path))
    assert result.exit_code == 0, result.output
    (row,) = rows(tmp_path)
    assert row["settings"]["prompt"] == "file:prompt.txt"
    assert row["settings"]["stop_at_eog"] is True
    assert 10 < row["settings"]["n_prompt"] < 40  # the template's role markers were added


def test_memory_guard_refuses_and_force_overrides(q4, tmp_path, monkeypatch):
    from edgeprof.bench import memory

    monkeypatch.setattr(memory, "available", lambda: (1.0, None))
    refused = bench(str(q4), "-p", "16", "-n", "4", "-r", "1", "--results", str(tmp_path))
    assert refused.exit_code == 1
    assert "needs about" in refused.output and "MB of RAM" in refused.output and "--force" in refused.output
    assert [r["status"] for r in rows(tmp_path)] == ["failed"]  # the refusal is recorded, nothing was loaded
    forced = bench(str(q4), "-p", "16", "-n", "4", "-r", "1", "--results", str(tmp_path), "--force")
    assert forced.exit_code == 0 and [r["status"] for r in rows(tmp_path)] == ["failed", "ok"]


@pytest.mark.parametrize("args, message", [
    (["--ngl", "x"], "--ngl: 'x' is not a whole number"),
    (["--cache-type", "q9_9"], "--cache-type: 'q9_9': use one of"),
    (["--flash-attn", "maybe"], "--flash-attn: 'maybe': use on, off or auto"),
    (["--ctx", "32", "-p", "64"], "exceed the context size 32"),
])
def test_bad_options(q4, tmp_path, args, message):
    result = bench(str(q4), *args, "--results", str(tmp_path))
    assert result.exit_code == 1
    assert message in result.output


def test_bad_model_files(tmp_path):
    (tmp_path / "fake.gguf").write_bytes(b"NOPE" + b"\0" * 100)
    result = bench(str(tmp_path / "fake.gguf"), "--results", str(tmp_path))
    assert result.exit_code == 1 and "fake.gguf: not a readable GGUF file: wrong magic" in result.output
    missing = bench(str(tmp_path / "absent.gguf"), "--results", str(tmp_path))
    assert missing.exit_code == 1 and "absent.gguf: no such file" in missing.output


def test_depth_and_ngl_all_on_cpu_build(q4, tmp_path):
    """--ngl all works on a CPU build too (llama.cpp keeps the layers on the CPU)."""
    result = bench(str(q4), "-p", "16", "-n", "4", "-d", "0,32", "--ngl", "all", "-r", "1", "--results", str(tmp_path))
    assert result.exit_code == 0, result.output
    depths = sorted(r["settings"]["n_depth"] for r in rows(tmp_path))
    assert depths == [0, 32]
    assert all(r["settings"]["n_gpu_layers"] == -1 for r in rows(tmp_path))


def test_sensor_selection(q4, tmp_path):
    result = bench(str(q4), "-p", "8", "-n", "4", "-r", "1", "--sensors", "none", "--results", str(tmp_path))
    assert result.exit_code == 0, result.output
    (row,) = rows(tmp_path)
    assert all("rss_mb_mean" not in phase for phase in row["resources"].values())
    bad = bench(str(q4), "--sensors", "gpu", "--results", str(tmp_path))
    assert bad.exit_code == 1 and "--sensors: 'gpu'" in bad.output


def test_seeded_sampling_is_reproducible_and_greedy_is_argmax(q4):
    import numpy as np

    from edgeprof.bench.engine import Context, ContextSettings, Model
    from edgeprof.bench.measure import TokenSampler, greedy

    with Model(q4) as model, Context(model, ContextSettings(n_ctx=64, n_threads=2)) as ctx:
        ctx.prefill([1, 2, 3, 4], 0)
        first = [TokenSampler(1.5, seed=7)(ctx) for _ in range(1)]
        draws_a = [TokenSampler(1.5, seed=7)(ctx) for _ in range(5)]
        one = TokenSampler(1.5, seed=7)
        draws_b = [one(ctx) for _ in range(20)]
        assert draws_a == [first[0]] * 5  # same seed, same logits: same token
        assert len(set(draws_b)) > 1  # a temperature really samples
        assert greedy(ctx) == int(np.argmax(ctx.logits())) == TokenSampler(0.0, seed=1)(ctx)


def test_tokenization_and_load_phase_are_recorded(q4, tmp_path):
    (tmp_path / "p.txt").write_text("Edge devices run small models. " * 4)
    bench(str(q4), "--prompt-file", str(tmp_path / "p.txt"), "-n", "4", "-r", "1", "--results", str(tmp_path))
    (row,) = rows(tmp_path)
    assert row["metrics"]["tokenize_ms"] > 0
    assert row["resources"]["load"]["rss_mb_max"] > 0
