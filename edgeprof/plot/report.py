"""`edgeprof report`: the leaderboard, the advice, the figures, every number with its spread and
the hardware and software it came from, as a Document (rendered to Markdown and HTML)."""

from __future__ import annotations

import time
from pathlib import Path

from edgeprof.plot.device_sections import cold_start_table, sustain_table
from edgeprof.plot.document import Document, Image, Section, Table
from edgeprof.plot.figures import Rendered
from edgeprof.plot.leaderboard import Budget, Entry, budget_task, entries, recommendation
from edgeprof.plot.noise import describe, interval95, verdicts
from edgeprof.plot.quality import accuracy_by_file
from edgeprof.results import translation
from edgeprof.results.read import Results, device_of, level_of, level_rank, model_of, reference_rows, settings_line


def _num(value, digits: int = 1, spread=None, n=None) -> str:
    """``value ± spread``; ``value (n=1)`` for a single repetition, which has no spread to show."""
    if value is None:
        return "–"
    text = f"{value:.{digits}f}"
    if n == 1:
        return f"{text} (n=1)"
    return f"{text} ± {spread:.{digits}f}" if spread is not None else text


def _acc(value, stderr, n) -> str:
    """An accuracy with its standard error and 95% interval: at 20 questions the interval is ±0.2."""
    interval = interval95(value, n) if value is not None else None
    text = _num(value, 3, stderr)
    return f"{text} [{interval[0]:.2f}, {interval[1]:.2f}]" if interval else text


def build(results: Results, figures: list[Rendered], budget: Budget, lm_eval: list = ()) -> Document:
    doc = Document("edgeprof report")
    task = budget_task(results, budget)
    boards = {d: entries(results, d, budget) for d in results.devices}
    summary = Section("Summary", [f"Results from {', '.join(str(f) for f in results.folders)}: {len(results.rows)} "
                                  f"rows, {len(results.devices)} device(s), generated "
                                  f"{time.strftime('%Y-%m-%d %H:%M')} by edgeprof."])
    summary.blocks += [recommendation(d, board, budget) for d, board in boards.items() if board]
    summary.blocks += [describe(v) for v in verdicts(accuracy_by_file(results))]
    doc.sections.append(summary)
    doc.sections.append(_leaderboards(results, boards, budget, task))
    doc.sections.append(_figures(figures))
    doc.sections.append(Section("All measurements", [_speed_table(results), *_quality_tables(results)]))
    if lm_eval:
        doc.sections.append(_lm_eval_section(results, lm_eval))
    device_tables = [t for t in (sustain_table(results.of_kind("sustain")), cold_start_table(results.speed)) if t]
    if device_tables:
        doc.sections.append(Section("Sustained load and cold start", device_tables))
    doc.sections.append(Section("Hardware and software", [_systems_table(results)]))
    doc.sections.append(Section("How to read the numbers", [DEFINITIONS]))
    return doc


DEFINITIONS = ("prefill = time to decode the prompt; TTFT = prefill + sampling the first token; decode t/s = "
               "generated tokens / decode time from a primed context; per-token latency = one decode step; "
               "values are the mean ± sample standard deviation over the repetitions (llama-bench's method); "
               "KLD = mean KL divergence of each level's next-token distribution from the unquantized file's "
               "(top-32 + rest), per token, on the same corpus; accuracy is the fraction of questions "
               "answered right with its standard error and Wilson 95% interval; two levels are called different "
               "only when McNemar's exact test on the questions one got right and the other wrong gives p < 0.05. "
               "Missing sensors are shown as –, never as 0.")


def _leaderboards(results: Results, boards: dict[str, list[Entry]], budget: Budget, task: str | None) -> Section:
    section = Section("Leaderboard", [f"Rule: {budget.rule(task)}."])
    for device, board in boards.items():
        rows = []
        ref = reference_rows([r for r in results.speed if device_of(r) == device])
        single = 1 if {r["settings"].get("repetitions") for r in ref} == {1} else None  # one run: no spread
        for rank, e in enumerate(board, 1):
            rows.append((str(rank) if e.fails is None else "–", e.model,
                         e.level + (" (synthetic)" if e.synthetic else "") + (" (throttled)" if e.throttled else ""),
                         _num(e.tg_tps, 1, e.tg_std, single), _num(e.pp_tps, 1), _num(e.ttft_ms, 1), _num(e.size_mb, 1),
                         _num(e.bits_per_weight, 2), _num(e.kld, 4),
                         _acc(e.acc, *((e.accuracy.stderr, e.accuracy.n) if e.accuracy else (None, None))),
                         e.fails or "yes"))
        section.blocks.append(Section(device, [Table(
            ("rank", "model", "level", "decode t/s", "prefill t/s", "TTFT ms", "size MB", "bits/w", "KLD",
             f"{task or 'accuracy'}", "within budget"), tuple(rows),
            f"settings: {settings_line(ref)}; accuracy ± standard error [95% interval]")]))
    return section


def _figures(figures: list[Rendered]) -> Section:
    section = Section("Figures")
    for item in figures:
        if item.path is not None:
            where = f" ({item.device})" if item.device else ""
            section.blocks.append(Image(item.path, f"{item.name}{where}: {item.shows}"))
    skipped = [f"{f.name}{f' ({f.device})' if f.device else ''}: {f.skipped}" for f in figures if f.skipped]
    if skipped:
        section.blocks.append("Not drawn: " + "; ".join(skipped) + ".")
    return section


def _speed_table(results: Results) -> Table:
    rows = []
    def order(r: dict) -> tuple:
        s = r["settings"]
        return (device_of(r), model_of(r), level_rank(level_of(r)), s.get("n_threads") or 0,
                s.get("n_gpu_layers") or 0, s.get("n_prompt") or 0)

    for r in sorted(results.speed, key=order):
        s, m, mem = r["settings"], r["metrics"], r.get("memory") or {}
        rows.append((device_of(r), model_of(r), level_of(r), str(s.get("n_threads")),
                     "all" if s.get("n_gpu_layers") == -1 else str(s.get("n_gpu_layers")),
                     f"pp{s.get('n_prompt')}+tg{s.get('n_gen')}" + _load_note(s),
                     _num(m.get("pp_tps_mean"), 1, m.get("pp_tps_std"), s.get("repetitions")),
                     _num(m.get("tg_tps_mean"), 1, m.get("tg_tps_std"), s.get("repetitions")),
                     _num(m.get("ttft_ms_mean"), 1, m.get("ttft_ms_std"), s.get("repetitions")),
                     f"{_num(m.get('token_ms_p50'), 2)} / {_num(m.get('token_ms_p99'), 2)}",
                     _num(mem.get("peak_rss_mb"), 0), _num(mem.get("estimate_total_rss_mb"), 0),
                     _num(mem.get("peak_gpu_mem_used_mb"), 0), _decode_energy(r.get("energy") or {})))
    return Table(("device", "model", "level", "threads", "ngl", "test", "prefill t/s", "decode t/s", "TTFT ms",
                  "token ms p50 / p99", "peak RSS MiB", "RSS estimate MiB", "peak VRAM MiB", "decode J/token"),
                 tuple(rows), "every speed cell recorded; mean ± standard deviation over repetitions; J/token from "
                              "the widest energy source measured (its name in brackets; above idle: less the device's "
                              "idle draw, read before the sweep, over the same time)")


def _load_note(settings: dict) -> str:
    """How the weights were read, where it was not llama.cpp's default, and whether from cold."""
    mode = settings.get("load_mode")
    return (f" ({mode} load)" if mode else "") + (" (cold)" if settings.get("cold") else "")


# Energy sources from the widest to the narrowest: the whole board (a Jetson's input rail), a Pi 5's
# PMIC rails, an external power meter, the x86 package, then a GPU alone.
ENERGY_SOURCES = ("board", "pi_pmic", "ina", "rapl_psys", "rapl_package", "gpu")


def _decode_energy(energy: dict) -> str:
    found = {k.removeprefix("decode_").removesuffix("_j_per_token"): v for k, v in energy.items()
             if k.startswith("decode_") and k.endswith("_j_per_token") and not k.endswith("_net_j_per_token")
             and isinstance(v, int | float)}
    if not found:
        return "–"
    ranked = [s for prefix in ENERGY_SOURCES for s in sorted(found) if s.startswith(prefix)]
    source = (ranked or sorted(found))[0]
    net = energy.get(f"decode_{source}_net_j_per_token")
    return f"{found[source]:.3g} ({source}{f'; {net:.3g} above idle' if net is not None else ''})"


ACC_COLUMNS = ("acc", "acc_norm", "exact_match", "pass@1")


def _quality_tables(results: Results) -> list[Table]:
    tables = []
    tasks = [r for r in results.of_kind("task") if not translation.is_translation(r)]
    if tasks:
        rows = []
        for r in tasks:
            m, t = r["metrics"], r["task"]
            rows.append((device_of(r), model_of(r), level_of(r), t["name"] + (" (chat)" if t.get("chat") else ""),
                         str(t.get("shots")), str(m.get("n")),
                         *(_acc(m.get(k), m.get(f"{k}_stderr"), m.get("n")) for k in ACC_COLUMNS),
                         _num(m.get("f1"), 3)))
        tables.append(Table(("device", "model", "level", "task", "shots", "n", "acc", "acc_norm", "exact match",
                             "pass@1", "F1"),
                            tuple(rows), "accuracy ± standard error [Wilson 95% interval]; whether two levels "
                                         "differ is settled by the paired test in the summary"))
    translated = [r for r in results.of_kind("task") if translation.is_translation(r)]
    if translated:
        tables.append(Table(("device", "model", "level", *translation.HEADER), tuple(
            (device_of(r), model_of(r), level_of(r), *translation.cells(r)) for r in translated), translation.CAPTION))
    ppl = results.of_kind("perplexity")
    if ppl:
        rows = []
        for r in ppl:
            m = r["metrics"]
            rows.append((model_of(r), level_of(r), str(r.get("corpus", "?")), _num(m.get("ppl"), 3),
                         _num(m.get("ppl_delta"), 3), _num(m.get("kld_mean"), 4), _num(m.get("kld_median"), 4),
                         _num(m.get("kld_p99"), 3), _num(m.get("same_top_token_rate"), 3)))
        tables.append(Table(("model", "level", "corpus", "ppl", "Δppl", "KLD mean", "KLD median", "KLD p99",
                             "same top token"), tuple(rows), "perplexity and KL divergence vs the unquantized file"))
    return tables


def _lm_eval_section(results: Results, scores: list) -> Section:
    """lm-evaluation-harness's scores (its results.json files) beside edgeprof's of the same task and metric."""
    from edgeprof.results.lm_eval import COLUMNS, comparison

    return Section("lm-evaluation-harness beside edgeprof", [Table(
        COLUMNS, tuple(comparison(scores, results.of_kind("task"))),
        "each score ± its standard error as its tool reports it; the two differ in prompts, data sample and "
        "numerics (lm-eval usually runs the unquantized model through transformers), so compare with care")])


SYSTEM_FIELDS = (("device_model", "device model"), ("cpu_model", "CPU"), ("cpu_affinity", "cores used"),
                 ("cpu_cores_logical", "logical cores"), ("ram_total_mb", "RAM MiB"), ("gpus", "GPUs"), ("os", "OS"),
                 ("python", "Python"), ("llama_cpp_python_version", "llama-cpp-python"),
                 ("edgeprof_version", "edgeprof"), ("llama_cpp_system_info", "llama.cpp system info"),
                 ("cpufreq", "CPU frequency"), ("swap", "swap"), ("model_storage", "model storage"),
                 ("jetson", "Jetson"), ("raspberry_pi", "Raspberry Pi"), ("config_warnings", "configuration warnings"))


def _flat(value) -> str:
    """A recorded dict or list as one line: ``key value, ...`` and ``; `` between entries."""
    if isinstance(value, dict):
        return ", ".join(f"{k} {_flat(v)}" for k, v in value.items() if v not in (None, "", []))
    if isinstance(value, list):
        return "; ".join(_flat(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def _systems_table(results: Results) -> Table:
    rows = []
    for device in results.devices:
        system = results.system_of(device)
        for key, label in SYSTEM_FIELDS:
            value = system.get(key)
            if key == "gpus":
                value = ", ".join(f"{g.get('name')} ({g.get('memory_mb', '?')} MiB)" for g in value or []) or "none"
            rows.append((device, label, "–" if value in (None, "", [], {}) else _flat(value)))
    return Table(("device", "field", "value"), tuple(rows), "recorded in every result row")


def write(doc: Document, out: Path) -> tuple[Path, Path]:
    from edgeprof.atomic import atomic_write_text
    from edgeprof.plot.document import to_html, to_markdown

    out.mkdir(parents=True, exist_ok=True)
    md, page = out / "report.md", out / "report.html"
    atomic_write_text(md, to_markdown(doc, out))
    atomic_write_text(page, to_html(doc))
    return md, page


def write_report(results: Results, out: Path, image_format: str, budget: Budget, on_figure=None,
                 lm_eval: list = ()) -> tuple[Path, Path]:
    """Draw every figure into ``out/figures`` and write ``report.md`` and ``report.html`` beside them."""
    from edgeprof.plot.figures import render_all

    check_task(results, budget)  # before any figure is drawn
    figures = render_all(results, out / "figures", image_format, on_figure=on_figure)
    return write(build(results, figures, budget, lm_eval), out)


def check_task(results: Results, budget: Budget) -> None:
    """--task must name a task whose accuracy is recorded: another name would rank by nothing, silently."""
    from edgeprof.errors import did_you_mean, fail

    names = list(dict.fromkeys(r["task"]["name"] for r in results.of_kind("task")))
    if budget.task is not None and budget.task not in names:
        raise fail("task_not_recorded", name=budget.task, hint=did_you_mean(budget.task, names),
                   choices=", ".join(names) or "none (run `edgeprof bench --tasks ...` first)")
