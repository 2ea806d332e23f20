"""`edgeprof bench`: llama.cpp's speed, memory, power and accuracy on this device."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import click

from edgeprof import limits
from edgeprof.cli.options import (
    NO_PROGRESS_OPTION,
    VERBOSE_OPTION,
    CheckedPath,
    DeviceName,
    Number,
    choice_list,
    flash_list,
    int_list,
    name_list,
    pair_list,
    say,
    sensor_list,
    task_folders,
)


@click.command()
@click.argument("models", nargs=-1, type=click.Path(path_type=Path))
@click.option("--threads", "-t", help="CPU threads, a list: 1,2,4 [default: all cores].")
@click.option("--ngl", default="0", show_default=True, help="GPU layers, a list: 0,8,all.")
@click.option("--prompt-tokens", "-p", default="512", show_default=True, help="Prompt lengths: 64,512,2048.")
@click.option("--gen-tokens", "-n", default="128", show_default=True, help="Generation lengths.")
@click.option("--depth", "-d", default="0", show_default=True, help="Context depths before the test: 0,1024.")
@click.option("--tests", type=click.Choice(["edgeprof", "llama-bench"]), default="edgeprof", show_default=True,
              help="edgeprof: every -p x -n x -d is one request, its generation decoded from where its prompt left "
              "off; llama-bench: llama-bench's own tests, a pp per -p, a tg per -n and a pg per -pg, at each -d.")
@click.option("-pg", "--prompt-gen", "prompt_gen", multiple=True, metavar="PP,TG",
              help="With --tests llama-bench: a prompt then a generation timed as one test (llama-bench's -pg); "
              "repeatable.")
@click.option("--batch", "-b", default="2048", show_default=True, help="Logical batch sizes.")
@click.option("--ubatch", "-ub", default="512", show_default=True, help="Physical batch sizes.")
@click.option("--parallel", "-np", default="1", show_default=True,
              help="Sequences decoded together (users served at once), a list: 1,2,4; greedy.")
@click.option("--flash-attn", "-fa", default="auto", show_default=True, help="on, off, auto, or a list.")
@click.option("--cache-type", "-ctk", default="f16", show_default=True, help="KV cache types: f16,q8_0.")
@click.option("--ctx", type=Number(limits.CONTEXT), help="Context size [default: just enough for the test].")
@click.option("--repetitions", "-r", type=Number(limits.REPETITIONS), default=5, show_default=True)
@click.option("--no-warmup", is_flag=True, help="Skip the untimed warmup run.")
@click.option("--prompt-file", type=CheckedPath("file"),
              help="Real text for the prompt instead of random tokens.")
@click.option("--chat", is_flag=True, help="Apply the model's chat template: to --prompt-file (stop at end of turn) "
              "and to --tasks prompts (each question a user turn, few-shot examples earlier turns).")
@click.option("--temperature", type=Number(limits.TEMPERATURE), default=0.0, show_default=True,
              help="Sampling temperature; 0 = greedy.")
@click.option("--seed", type=Number(limits.SEED), default=42, show_default=True,
              help="Seed for random prompts and sampling.")
@click.option("--results", "results", type=CheckedPath("dir"), default=Path("results"),
              show_default=True, help="Results folder (bench.jsonl is appended to).")
@click.option("--rerun", is_flag=True, help="Measure cells already in the results again.")
@click.option("--device-name", type=DeviceName(), metavar="NAME", help="What plots and reports call this device "
              "[default: its model name or hostname].")
@click.option("--force", is_flag=True, help="Skip the memory guard.")
@click.option("--cell-timeout", type=Number(limits.SECONDS), metavar="SECONDS",
              help="A cell still running after this long is recorded as failed and the sweep goes on.")
@click.option("--cooldown", type=Number(limits.CELSIUS), metavar="CELSIUS",
              help="Before each cell, wait (up to 10 min) until the hottest sensor reads at most this.")
@click.option("--sustain", type=Number(limits.SECONDS), metavar="SECONDS",
              help="After each context's cells, decode without pause this long (boards throttle after minutes): "
              "t/s per window beside temperature, clock, power and throttle flags, and the steady state.")
@click.option("--idle-baseline", type=Number(limits.IDLE_SECONDS), default=3.0, show_default=True,
              metavar="SECONDS", help="Where a power sensor exists, read the idle draw this long before the sweep: "
              "rows then give J/token net of idle beside the gross figure (0 = skip).")
@click.option("--sustain-window", type=Number(limits.SECONDS), default=10.0, show_default=True, metavar="SECONDS",
              help="Window length of --sustain.")
@click.option("--load-mode", "-lm", "load_mode", metavar="MODES", default="auto", show_default=True,
              help="How llama.cpp reads the weights, a list of auto,none,mmap,mlock,mmap+mlock,dio "
              "(llama-bench's -lm); one model load each.")
@click.option("--cold", is_flag=True, help="Drop each model file from the page cache before loading it and time "
              "the first request after the load (load + context + first prompt: a cold start).")
@click.option("--output", "-o", "output_format", type=click.Choice(["table", "json", "csv", "md"]), default="table",
              show_default=True, help="How the rows are printed (llama-bench's -o).")
@click.option("--export-llama-bench", type=CheckedPath("output"),
              help="Also write the results in llama-bench's JSON schema.")
@click.option("--export-build", metavar="NAME", default="edgeprof", show_default=True,
              help="The build_commit the llama-bench export records: compare-llama-bench.py's -b/-c pick files by it.")
@click.option("--interval", type=Number(limits.INTERVAL), default=0.05, show_default=True,
              help="Resource sensor reading period in seconds (0.005 to 60).")
@click.option("--sensors", default="all", show_default=True,
              help="Resource sensors: all, none, or a list of process,nvml,jtop,tegrastats,rapl,raspberry_pi,"
              "thermal,power_meter. jtop (jetson-stats) replaces tegrastats where its service answers.")
@click.option("--tasks", metavar="NAMES", help="Accuracy tasks: mmlu,mmlu_cloze,hellaswag,sst2,... "
              "(see --list-tasks) or task .toml files.")
@click.option("--limit", type=Number(limits.COUNT), help="At most N examples per task (a --seed sample).")
@click.option("--shots", type=Number(limits.SHOTS), help="Few-shot examples per question [default: the task's].")
@click.option("--task-source", metavar="NAME", help="Take task data from this source of the task file (e.g. hub).")
@click.option("--task-data", metavar="TASK=PATH", multiple=True,
              help="Task data from a folder in the task's own format (CMMLU CSVs, GLUE SST-2, ARC JSONL).")
@click.option("--task-ctx", type=Number(limits.TASK_CONTEXT), default=2048, show_default=True,
              help="Context size for tasks; longer prompts lose their oldest tokens.")
@click.option("--ppl", "corpus", metavar="CORPUS", help="Perplexity over a text corpus: gsm8k_text (offline), "
              "wikitext2 (hub) or a text file.")
@click.option("--ppl-ctx", type=Number(limits.CONTEXT), default=512, show_default=True,
              help="Perplexity window (as llama-perplexity -c).")
@click.option("--ppl-chunks", type=Number(limits.COUNT), help="At most N perplexity windows.")
@click.option("--kld-baseline", type=CheckedPath("file"),
              help="With --ppl: the F16/BF16 file each model's KL-divergence is measured against.")
@click.option("--synthetic", metavar="SOURCE", help="Also bench random-weight files with SOURCE's exact shapes and "
              "per-tensor types: a built-in shape (SmolLM2-135M, Llama-3.2-3B, Qwen2.5-7B, ...), a config.json or "
              "checkpoint folder, or a hub repo id (config and tokenizer only). Needs --quant.")
@click.option("--quant", "-q", "quant", metavar="LEVELS",
              help="With --synthetic: the levels to build, e.g. Q4_K_M,Q8_0.")
@click.option("--revision", help="With --synthetic and a hub repo id: branch, tag or commit.")
@click.option("--no-speed", is_flag=True, help="Only the tasks/perplexity, no speed sweep.")
@click.option("--list-tasks", is_flag=True, help="List the tasks and their data sources, then exit.")
@NO_PROGRESS_OPTION
@VERBOSE_OPTION
def bench(models, threads, ngl, prompt_tokens, gen_tokens, depth, tests, prompt_gen, batch, ubatch, parallel,
          flash_attn,
          cache_type, ctx, repetitions, no_warmup, prompt_file, chat, temperature, seed, results, rerun, device_name,
          force, cell_timeout, cooldown, sustain, idle_baseline, sustain_window, load_mode, cold, output_format,
          export_llama_bench, export_build, interval,
          sensors, tasks, limit, shots, task_source, task_data, task_ctx, corpus, ppl_ctx, ppl_chunks, kld_baseline,
          synthetic, quant, revision, no_speed, list_tasks, no_progress, verbose) -> None:
    """Measure llama.cpp on this device: prefill, TTFT, decode, per-token latency, memory, power.

    Every combination of the listed settings is one cell; each cell is appended to
    RESULTS/bench.jsonl as soon as it is measured, and a rerun skips cells already there.

    \b
    edgeprof bench models/SmolLM2-135M-Instruct-Q4_K_M.gguf
    edgeprof bench models/*.gguf -t 1,2,4 -p 64,512 -n 128 --ngl 0,all
    edgeprof bench model.gguf --prompt-file prompt.txt --chat -n 256
    edgeprof bench model.gguf -p 256 -n 128 --parallel 1,2,4            # users served at once
    edgeprof bench model.gguf --sustain 600 --ngl all                   # throttling: 10 min of decode
    edgeprof bench model.gguf -lm mmap,none --cold -r 1                 # load from cold, mmap vs read
    edgeprof bench model.gguf --tests llama-bench -p 512 -n 128 -pg 512,128 -d 0,4096 --export-llama-bench ep.json
    edgeprof bench models/*.gguf --tasks mmlu_cloze,hellaswag --limit 200 --no-speed
    edgeprof bench model.gguf --tasks mmlu --shots 5 --chat --no-speed   # the model's chat template
    edgeprof bench models/*.gguf --ppl gsm8k_text --kld-baseline models/SmolLM2-135M-Instruct-F16.gguf
    edgeprof bench --synthetic meta-llama/Llama-3.2-3B --quant Q4_K_M,Q3_K_M --ctx 4096   # before downloading
    """
    from edgeprof import llamacpp
    from edgeprof.bench.sweep import SweepSpec, plan
    from edgeprof.model_file import open_model_files, reuse_or_open
    from edgeprof.paths import all_cores

    if list_tasks:
        from edgeprof.bench.tasks.listing import describe_tasks

        click.echo(describe_tasks())
        return
    if bool(synthetic) != bool(quant):
        raise click.UsageError("--synthetic SOURCE and --quant LEVELS go together")
    if not models and not synthetic:
        raise click.UsageError("give one or more GGUF files (or --synthetic SOURCE --quant LEVELS)")
    if kld_baseline and not corpus:
        raise click.UsageError("--kld-baseline needs --ppl CORPUS")
    if no_speed and not (tasks or corpus):
        raise click.UsageError("--no-speed leaves nothing to do: add --tasks or --ppl")
    from edgeprof.bench.cache_types import CACHE_TYPES
    from edgeprof.bench.load_modes import LOAD_MODES

    spec = SweepSpec(  # every setting checked before anything is built, loaded or written
        models=(), threads=int_list("--threads", threads, limits.threads()) if threads else (all_cores(),),
        n_gpu_layers=int_list("--ngl", ngl, limits.GPU_LAYERS, allow_all=True),
        n_prompt=int_list("--prompt-tokens", prompt_tokens, limits.TOKENS),
        n_gen=int_list("--gen-tokens", gen_tokens, limits.TOKENS),
        n_depth=int_list("--depth", depth, limits.TOKENS), tests=tests, n_pg=pair_list(prompt_gen),
        n_batch=int_list("--batch", batch, limits.BATCH), n_ubatch=int_list("--ubatch", ubatch, limits.BATCH),
        n_parallel=int_list("--parallel", parallel, limits.SEQUENCES),
        flash_attn=flash_list(flash_attn), cache_type=choice_list("--cache-type", cache_type, CACHE_TYPES),
        n_ctx=ctx, repetitions=repetitions, warmup=not no_warmup,
        prompt_text=read_prompt(prompt_file) if prompt_file else None,
        prompt_label=f"file:{prompt_file.name}" if prompt_file else "random",
        chat=chat and bool(prompt_file or not tasks), temperature=temperature,  # --tasks --chat: the tasks' prompts
        seed=seed, force=force, cell_timeout=cell_timeout, cooldown_c=cooldown, sustain_s=sustain,
        sustain_window_s=sustain_window, idle_s=idle_baseline, cold=cold,
        load_mode=choice_list("--load-mode", load_mode, LOAD_MODES),
        rerun=rerun, sensor_interval=interval, sensors=sensor_list(sensors), device_name=device_name)
    if not no_speed:
        plan(spec)  # the lengths against the context: the same for every model
    check_outputs(results, export_llama_bench, quality=bool(tasks or corpus))
    llamacpp.init(verbose)
    if synthetic:
        models = (*models, *_synthetic_files(synthetic, quant, revision))
    spec = replace(spec, models=open_model_files(models, say))  # each distinct file's header read and checked once
    quality = None
    if tasks or corpus:
        from edgeprof.bench.quality.session import QualitySpec

        quality = QualitySpec(
            tasks=name_list(tasks), limit=limit, shots=shots, seed=seed, source=task_source,
            folders=task_folders(task_data), task_ctx=task_ctx, corpus=corpus, ppl_ctx=ppl_ctx,
            ppl_chunks=ppl_chunks, kld_baseline=reuse_or_open(kld_baseline, spec.models) if kld_baseline else None,
            threads=spec.threads[0], n_gpu_layers=spec.n_gpu_layers[0], flash_attn=bool(spec.flash_attn[0]),
            rerun=rerun, device_name=device_name, chat=chat)
    export = (export_llama_bench, export_build) if export_llama_bench else None
    from edgeprof.locks import hold

    with hold(results, "edgeprof bench", "--results", say):  # one bench (or run) per results folder
        _bench_and_print(spec, quality, results, output_format, export, not no_progress, not no_speed)


def read_prompt(path: Path) -> str:
    """--prompt-file's text: UTF-8, and not empty (an empty file would silently become a pp0 test)."""
    from edgeprof.errors import fail

    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise fail("prompt_file_text", path=path, detail=f"byte {exc.start}: {exc.reason}") from None
    if not text.strip():
        raise fail("prompt_file_empty", path=path)
    return text


def check_outputs(results: Path, export: Path | None, quality: bool) -> None:
    """Every place bench writes, checked before the first cell: results (through symbolic links), its
    bench.jsonl, the task answers and KLD baselines beside it, and the llama-bench export's folder."""
    from edgeprof.paths import check_appendable, check_writable
    from edgeprof.results.store import ResultStore

    check_writable(results)
    check_appendable(ResultStore(results).path)
    if quality:
        for sub in ("tasks", "baselines"):
            check_writable(results / sub)
    if export is not None:
        check_writable(export.parent, shown=export)


def _synthetic_files(source: str, quant: str, revision: str | None) -> tuple[Path, ...]:
    """Build (or reuse from the cache) the synthetic file of ``source`` at each level."""
    from edgeprof.levels import parse_list
    from edgeprof.quantize import synthetic

    shape = synthetic.find_shape(source, revision)
    return tuple(synthetic.build(shape, parse_list(quant), say=say))


def _bench_and_print(spec, quality, results: Path, output_format: str, export_llama_bench: tuple[Path, str] | None,
                     progress: bool, speed: bool) -> None:
    """``export_llama_bench``: (file, build name) to write llama-bench's JSON to, or None."""
    from edgeprof.bench.api import Tally, bench
    from edgeprof.results.store import ResultStore

    store = ResultStore(results)
    start = store.size()
    tally = Tally()
    try:
        bench(spec, store, tally, quality, speed, progress, say)
    except KeyboardInterrupt as exc:  # Ctrl-C, SIGTERM, SIGHUP
        from edgeprof.cli.interrupts import exit_code

        say(f"\nInterrupted: {tally.rows} rows were saved to {store.path} (task answers so far in "
            f"{store.folder / 'tasks'}); rerun the same command to resume.")
        raise SystemExit(exit_code(exc)) from None
    shown = list(store.rows(since=start)) if tally.rows else list(store.rows())
    _print_rows(shown, output_format, speed)
    if export_llama_bench:
        from edgeprof.atomic import atomic_write_text
        from edgeprof.results import export
        from edgeprof.results.rows import of_kind

        path, build = export_llama_bench
        atomic_write_text(path, json.dumps(export.to_llama_bench(of_kind(shown, "speed"), build), indent=1))
        say(f"llama-bench JSON written to {path}")
    if note := store.skipped.note():
        say(note)
    say(f"results: {store.path}")


def _print_rows(shown: list[dict], output_format: str, speed: bool) -> None:
    from edgeprof.results import export
    from edgeprof.results.rows import of_kind

    if output_format == "json":
        click.echo(export.to_json(shown))
        return
    printers = {"table": export.table, "csv": export.to_csv, "md": export.to_markdown}
    speed_rows = of_kind(shown, "speed")
    if speed and speed_rows:
        click.echo(printers[output_format](speed_rows))
    for kind, printer in (("task", export.task_table), ("perplexity", export.ppl_table),
                          ("sustain", export.sustain_table)):
        if of_kind(shown, kind):
            click.echo("\n" + printer([r for r in of_kind(shown, kind) if r.get("status") == "ok"]))
