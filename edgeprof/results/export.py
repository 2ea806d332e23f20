"""Rows -> what people read: a terminal table, JSON, CSV, Markdown, and llama-bench's JSON schema."""

from __future__ import annotations

import csv
import io
import json

from edgeprof.results import translation
from edgeprof.results.rows import kind_of
from edgeprof.text_table import aligned


def _pm(mean, std, digits: int = 2, n: int | None = None) -> str:
    """``mean ± std``; ``mean (n=1)`` for one repetition, which has no spread to show."""
    if mean is None:
        return "-"
    if n == 1:
        return f"{mean:.{digits}f} (n=1)"
    return f"{mean:.{digits}f} ± {std:.{digits}f}" if std is not None else f"{mean:.{digits}f}"


def _num(value, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def task_table(rows: list[dict]) -> str:
    translated = [r for r in rows if translation.is_translation(r)]  # corpus chrF/BLEU: a table of their own
    rows = [r for r in rows if not translation.is_translation(r)]
    lines = [["model", "level", "task", "shots", "n", "acc", "acc_norm", "macro", "F1 / EM / pass@1", "q/s"]]
    for row in rows:
        m, t, model = row["metrics"], row["task"], row["model"]
        lines.append([model["file"], model.get("level") or "?", t["name"] + (" (chat)" if t.get("chat") else ""),
                      str(t["shots"]), str(m["n"]),
                      _pm(m.get("acc"), m.get("acc_stderr"), 3), _pm(m.get("acc_norm"), m.get("acc_norm_stderr"), 3),
                      _num(m.get("acc_macro", m.get("exact_match_macro"))), _pm(*_headline(m), 3),
                      _num((row.get("eval") or {}).get("examples_per_s"), 1)])
    tables = [aligned(lines)] if rows else []
    if translated:
        tables.append(aligned([["model", "level", *translation.HEADER]] + [
            [r["model"]["file"], r["model"].get("level") or "?", *translation.cells(r)] for r in translated]))
    return "\n\n".join(tables)


def _headline(m: dict) -> tuple:
    """A generated-answer task's score with its standard error (F1 has none: it is not a mean of
    per-question scores): F1 for classification, pass@1 for code, else exact match."""
    if "f1" in m:
        return m.get("f1"), None
    if "pass@1" in m:
        return m.get("pass@1"), m.get("pass@1_stderr")
    return m.get("exact_match"), m.get("exact_match_stderr")


def ppl_table(rows: list[dict]) -> str:
    lines = [["model", "level", "bits/w", "corpus", "tokens", "ppl", "Δppl", "KLD mean", "median", "p99",
              "same top"]]
    for row in rows:
        m, model = row["metrics"], row["model"]
        lines.append([model["file"], model.get("level") or "?", _num(model.get("bits_per_weight"), 2),
                      row["corpus"].split(" ")[0], str(m["ppl_tokens"]), _num(m["ppl"]), _num(m.get("ppl_delta")),
                      _num(m.get("kld_mean"), 4), _num(m.get("kld_median"), 4), _num(m.get("kld_p99"), 4),
                      _num(m.get("same_top_token_rate"))])
    return aligned(lines)


def sustain_table(rows: list[dict]) -> str:
    """Sustained runs: burst vs steady t/s, when it first slowed, the hottest reading, steady J/token."""
    lines = [["model", "level", "ngl", "threads", "seconds", "windows", "burst t/s", "steady t/s", "steady/burst",
              "slowed at s", "max °C", "throttled", "J/token"]]
    for row in rows:
        st, model, settings, thermal = row["steady"], row["model"], row["settings"], row.get("thermal") or {}
        throttled = thermal.get("throttled")
        lines.append([model["file"], model.get("level") or "?", str(settings.get("n_gpu_layers")),
                      str(settings.get("n_threads")), _num(row["decode_s"], 1), str(len(row["windows"])),
                      _num(st.get("burst_tps")), _num(st.get("steady_tps")), _num(st.get("steady_over_burst"), 3),
                      _num(st.get("first_slowdown_s"), 1), _num(thermal.get("max_temp_c"), 1),
                      "?" if throttled is None else ("yes" if throttled else "no"),
                      _num(st.get("steady_j_per_token"), 4)])
    return aligned(lines)


def flat(row: dict) -> dict:
    """One flat dict per row: the columns of CSV/Markdown exports."""
    m, s, mem, model = row.get("metrics", {}), row.get("settings", {}), row.get("memory", {}), row.get("model", {})
    out = {
        "status": row.get("status"), "model": model.get("file"), "level": model.get("level"),
        "synthetic": model.get("synthetic"), "size_mb": round(model.get("size_bytes", 0) / 1e6, 1),
        "bits_per_weight": model.get("bits_per_weight"), "device": row.get("system", {}).get("hostname"),
        "cpu": row.get("system", {}).get("cpu_model"),
    }
    for key in ("n_gpu_layers", "n_threads", "n_batch", "n_ubatch", "flash_attn", "type_k", "n_prompt", "n_gen",
                "n_depth", "repetitions", "prompt"):
        out[key] = s.get(key)
    for key in ("pp_tps_mean", "pp_tps_std", "tg_tps_mean", "tg_tps_std", "prefill_ms_mean", "ttft_ms_mean",
                "ttft_ms_std", "token_ms_p50", "token_ms_p90", "token_ms_p99", "token_ms_max", "total_ms_mean",
                "sample_ms_per_token_mean", "tokens_generated_mean"):
        out[key] = m.get(key)
    out["load_seconds"] = row.get("load_seconds")
    out["peak_rss_mb"] = mem.get("peak_rss_mb")
    out["estimate_ram_mb"] = mem.get("estimate_ram_mb")
    out["estimate_total_rss_mb"] = mem.get("estimate_total_rss_mb")
    out["peak_gpu_mem_used_mb"] = mem.get("peak_gpu_mem_used_mb")
    for phase in ("prefill", "decode"):
        out[f"cpu_percent_{phase}"] = row.get("resources", {}).get(phase, {}).get("cpu_percent_mean")
        out[f"gpu_util_percent_{phase}"] = row.get("resources", {}).get(phase, {}).get("gpu_util_percent_mean")
    out.update(row.get("energy", {}))
    out["error"] = row.get("error")
    return out


def test_name(n_prompt: int, n_gen: int, n_depth: int) -> str:
    """pp512, tg128, pp512+tg128, with @d4096 for a depth: compare-llama-bench.py's names."""
    parts = ([f"pp{n_prompt}"] if n_prompt else []) + ([f"tg{n_gen}"] if n_gen else [])
    return "+".join(parts) + (f"@d{n_depth}" if n_depth else "")


def table(rows: list[dict]) -> str:
    header = ["model", "level", "ngl", "threads", "test", "pp t/s", "tg t/s", "TTFT ms", "ms/token p50/p99",
              "peak RSS MB", "est. RSS MB"]
    lines = [header]
    for row in rows:
        f = flat(row)
        if f["status"] != "ok":
            error = (f["error"] or "").removeprefix(f"{row['model'].get('path')}: ")  # the model column names it
            lines.append([f["model"] or "?", f["level"] or "?", str(f["n_gpu_layers"]), str(f["n_threads"]), "failed",
                          error[:100], "", "", "", "", ""])
            continue
        test, reps = test_name(f["n_prompt"], f["n_gen"], f["n_depth"]), f["repetitions"]
        lines.append([
            f["model"], f["level"] or "?", "all" if f["n_gpu_layers"] == -1 else str(f["n_gpu_layers"]),
            str(f["n_threads"]), test, _pm(f["pp_tps_mean"], f["pp_tps_std"], 2, reps),
            _pm(f["tg_tps_mean"], f["tg_tps_std"], 2, reps), _pm(f["ttft_ms_mean"], f["ttft_ms_std"], 1, reps),
            "-" if f["token_ms_p50"] is None else f"{f['token_ms_p50']:.2f}/{_num(f['token_ms_p99'], 2)}",
            "-" if f["peak_rss_mb"] is None else f"{f['peak_rss_mb']:.0f}",
            "-" if f["estimate_total_rss_mb"] is None else f"{f['estimate_total_rss_mb']:.0f}",
        ])
    return aligned(lines)


def to_json(rows: list[dict]) -> str:
    return json.dumps(rows, indent=1, default=str)


def to_csv(rows: list[dict]) -> str:
    flats = [flat(r) for r in rows]
    columns = list(dict.fromkeys(k for f in flats for k in f))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns)
    writer.writeheader()
    writer.writerows(flats)
    return buf.getvalue()


def to_markdown(rows: list[dict]) -> str:
    flats = [flat(r) for r in rows]
    columns = ["model", "level", "n_gpu_layers", "n_threads", "n_prompt", "n_gen", "pp_tps_mean", "tg_tps_mean",
               "ttft_ms_mean", "token_ms_p50", "token_ms_p99", "peak_rss_mb"]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for f in flats:
        lines.append("| " + " | ".join("" if f.get(c) is None else str(f.get(c)) for c in columns) + " |")
    return "\n".join(lines)


def to_llama_bench(rows: list[dict], build_commit: str = "edgeprof") -> list[dict]:
    """llama-bench's JSON output schema: one entry per llama-bench test, same field names, so llama.cpp's
    scripts/compare-llama-bench.py can read edgeprof results; ``build_commit`` names this side there
    (its -b/-c). Each entry says where its test ran: see ``_llama_bench_tests``."""
    entries = []
    for row in rows:
        if row.get("status") != "ok" or kind_of(row) != "speed":
            continue
        common = _llama_bench_common(row, build_commit)
        for (n_prompt, n_gen, n_depth), samples, tokens in _llama_bench_tests(row["settings"], row["metrics"]):
            ts = [n / (ns / 1e9) for ns, n in zip(samples, tokens)]
            entries.append({**common, "n_prompt": n_prompt, "n_gen": n_gen, "n_depth": n_depth, **_stats_ns(samples),
                            **_stats_ts(ts), "samples_ns": samples, "samples_ts": ts})
    return entries


def _llama_bench_tests(s: dict, m: dict) -> list[tuple[tuple[int, int, int], list[int], list[int]]]:
    """((n_prompt, n_gen, n_depth), samples_ns, tokens per sample) of each llama-bench test in a row.

    A pg row (--tests llama-bench -pg) is one test timed over prompt and generation together. Any
    other row is a pp test at its depth and a tg test at the depth where its generation ran: after
    the prompt, so n_depth + n_prompt (labelled with the cell's own depth, compare-llama-bench.py
    would pair it with llama-bench's faster tg from a shallower context)."""
    p, g, d = s["n_prompt"], s["n_gen"], s["n_depth"]
    pp, tg = m["pp_samples_ns"], m["tg_samples_ns"]
    generated = [n for n in m.get("tokens_per_repetition", []) if n] or [m.get("tokens_generated_mean") or g] * len(tg)
    if s.get("pg"):
        pg = [a + b for a, b in zip(pp, tg)]
        return [((p, g, d), pg, [p + n for n in generated])] if pg else []
    tests = [((p, 0, d), pp, [p] * len(pp)), ((0, g, d + p), tg, generated)]
    return [test for test in tests if test[1]]


def _llama_bench_common(row: dict, build_commit: str) -> dict:
    """The fields every test of a row shares: the machine, the file and the settings that ran."""
    s, sysinfo, model = row["settings"], row["system"], row["model"]
    gpu = ", ".join(g["name"] for g in sysinfo.get("gpus", []))
    # llama-bench names the machine by ggml's devices; rows from before those were recorded fall back
    devices = sysinfo.get("ggml_devices") or {
        "cpu_info": sysinfo.get("cpu_model"), "gpu_info": gpu,
        "backends": "CUDA" if sysinfo.get("gpu_offload_supported") and gpu else "CPU"}
    return {
        "build_commit": build_commit, "build_number": 0, **devices,
        "model_filename": model["path"], "model_type": row.get("model_desc") or _model_type(model),
        "model_size": row.get("model_tensor_bytes") or model["size_bytes"], "model_n_params": model["n_params"],
        "n_batch": s["n_batch"], "n_ubatch": s["n_ubatch"], "n_threads": s["n_threads"], "cpu_mask": "0x0",
        "cpu_strict": False, "poll": 50, "type_k": s["type_k"], "type_v": s["type_v"],
        "n_gpu_layers": s["n_gpu_layers"], "n_cpu_moe": 0, "split_mode": "layer", "main_gpu": 0,
        "no_kv_offload": False, "flash_attn": {None: -1, True: 1, False: 0}[s["flash_attn"]],
        "devices": "auto", "tensor_split": "0.00", "tensor_buft_overrides": "none", "load_mode": "auto",
        "lazy_mode": "auto", "embeddings": False, "no_op_offload": 0, "no_host": False, "repack": True,
        "fit_target": 0, "fit_min_ctx": 0, "test_time": row["timestamp"],
    }


def _model_type(model: dict) -> str:
    params = model["n_params"]
    size = f"{params / 1e9:.1f}B" if params >= 1e9 else f"{params / 1e6:.0f}M"
    return f"{model.get('architecture')} {size} {model.get('level')}"


def _stats_ns(samples: list[int]) -> dict:
    import statistics

    return {"avg_ns": int(statistics.fmean(samples)),
            "stddev_ns": int(statistics.stdev(samples)) if len(samples) > 1 else 0}


def _stats_ts(ts: list[float]) -> dict:
    import statistics

    return {"avg_ts": statistics.fmean(ts), "stddev_ts": statistics.stdev(ts) if len(ts) > 1 else 0.0}
