"""The edgeprof command line. Each command parses, calls one library function and prints.

Heavy modules (llama_cpp, gguf, numpy, matplotlib) are imported inside the commands so that
``edgeprof --help`` answers at once.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from edgeprof import __version__
from edgeprof.cli_paths import CheckedPath


class EdgeprofGroup(click.Group):
    """Turns our errors (and OS errors we can explain) into one line and exit code 1."""

    def invoke(self, ctx: click.Context):
        from edgeprof.errors import explain

        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:  # noqa: BLE001 - the one place every error becomes a message
            message = explain(exc)
            if message is None or os.environ.get("EDGEPROF_DEBUG"):
                raise
            raise click.ClickException(message) from None


@click.group(cls=EdgeprofGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="edgeprof")
def cli() -> None:
    """Profile LLMs on edge devices with llama.cpp: convert, bench, plot.

    \b
    edgeprof convert demo                      # the embedded demo model, default levels
    edgeprof convert HuggingFaceTB/SmolLM2-360M-Instruct --quant Q8_0,Q4_K_M
    edgeprof convert --models models.toml      # every model listed there

    Set EDGEPROF_DEBUG=1 to see tracebacks instead of one-line errors.
    """


@cli.command()
@click.argument("source", required=False)
@click.option("--quant", "-q", "quant", metavar="LEVELS",
              help="Comma-separated llama.cpp levels, e.g. Q8_0,Q4_K_M,IQ4_XS.")
@click.option("--recipe", "-r", metavar="NAME", help="A named set of levels from quantize/ (e.g. common).")
@click.option("--outtype", type=click.Choice(["auto", "f16", "bf16", "f32"]), default="auto", show_default=True,
              help="Type of the unquantized file; auto keeps the source's own 16-bit type.")
@click.option("--out", "out_dir", type=CheckedPath("dir"), default=Path("models"),
              show_default=True, help="Folder for the GGUF files.")
@click.option("--models", "models_file", type=CheckedPath("file"),
              help="Convert every model in this models.toml (instead of SOURCE).")
@click.option("--name", help="Model name used in output file names (default: from SOURCE).")
@click.option("--revision", help="Hub revision (branch, tag or commit) for a repo id SOURCE.")
@click.option("--threads", "-t", type=click.IntRange(min=1), help="Quantization threads [default: all cores].")
@click.option("--allow-pickle", is_flag=True, help="For repos with only pytorch_model.bin: read its tensors with "
              "edgeprof's restricted reader (never runs code from the file).")
@click.option("--list-levels", is_flag=True, help="List the quantization levels and recipes, then exit.")
@click.option("--no-progress", is_flag=True, help="No progress bars.")
@click.option("--verbose", "-v", is_flag=True, help="Show llama.cpp's own log.")
def convert(source, quant, recipe, outtype, out_dir, models_file, name, revision, threads, allow_pickle,
            list_levels, no_progress, verbose) -> None:
    """Convert a Hugging Face checkpoint to GGUF and quantize it to each requested level.

    SOURCE is a hub repo id (owner/name), a local checkpoint folder, a .gguf file (only the
    quantization sweep runs), or `demo` for the embedded SmolLM2-135M-Instruct.

    \b
    edgeprof convert demo --recipe demo
    edgeprof convert ./my-llama --quant Q4_K_M,Q5_K_M --outtype bf16
    edgeprof convert model-F16.gguf --quant Q4_0 --out quantized/
    edgeprof convert ./old-model --allow-pickle --quant Q8_0   # only pytorch_model.bin there
    """
    from edgeprof import llamacpp
    from edgeprof.quantize import commands

    if list_levels:
        click.echo(commands.describe_levels())
        return
    if quant and recipe:
        raise click.UsageError("give --quant or --recipe, not both")
    if bool(source) == bool(models_file):
        raise click.UsageError("give a SOURCE or --models FILE (one of them)")
    llamacpp.init(verbose)
    progress = not no_progress
    if models_file:
        rows = commands.convert_models_file(models_file, out_dir, threads, progress)
    else:
        rows = commands.convert_one(source, quant, recipe, outtype, out_dir, name, revision, threads, progress,
                                    allow_pickle)
    click.echo(commands.summary_table(rows))


@cli.command()
@click.argument("models", nargs=-1, type=click.Path(path_type=Path))
@click.option("--threads", "-t", help="CPU threads, a list: 1,2,4 [default: all cores].")
@click.option("--ngl", default="0", show_default=True, help="GPU layers, a list: 0,8,all.")
@click.option("--prompt-tokens", "-p", default="512", show_default=True, help="Prompt lengths: 64,512,2048.")
@click.option("--gen-tokens", "-n", default="128", show_default=True, help="Generation lengths.")
@click.option("--depth", "-d", default="0", show_default=True, help="Context depths before the test: 0,1024.")
@click.option("--batch", "-b", default="2048", show_default=True, help="Logical batch sizes.")
@click.option("--ubatch", "-ub", default="512", show_default=True, help="Physical batch sizes.")
@click.option("--flash-attn", "-fa", default="auto", show_default=True, help="on, off, auto, or a list.")
@click.option("--cache-type", "-ctk", default="f16", show_default=True, help="KV cache types: f16,q8_0.")
@click.option("--ctx", type=click.IntRange(min=16), help="Context size [default: just enough for the test].")
@click.option("--repetitions", "-r", type=click.IntRange(min=1), default=5, show_default=True)
@click.option("--no-warmup", is_flag=True, help="Skip the untimed warmup run.")
@click.option("--prompt-file", type=CheckedPath("file"),
              help="Real text for the prompt instead of random tokens.")
@click.option("--chat", is_flag=True, help="With --prompt-file: apply the chat template, stop at end of turn.")
@click.option("--temperature", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Sampling temperature; 0 = greedy.")
@click.option("--seed", type=int, default=42, show_default=True, help="Seed for random prompts and sampling.")
@click.option("--results", "results", type=CheckedPath("dir"), default=Path("results"),
              show_default=True, help="Results folder (bench.jsonl is appended to).")
@click.option("--rerun", is_flag=True, help="Measure cells already in the results again.")
@click.option("--device-name", metavar="NAME", help="What plots and reports call this device "
              "[default: its model name or hostname].")
@click.option("--force", is_flag=True, help="Skip the memory guard.")
@click.option("--cell-timeout", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
              help="A cell still running after this long is recorded as failed and the sweep goes on.")
@click.option("--cooldown", type=float, metavar="CELSIUS",
              help="Before each cell, wait (up to 10 min) until the hottest sensor reads at most this.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv", "md"]), default="table",
              show_default=True)
@click.option("--export-llama-bench", type=CheckedPath("output"),
              help="Also write the results in llama-bench's JSON schema.")
@click.option("--interval", type=click.FloatRange(min=0.005), default=0.05, show_default=True,
              help="Resource sampling period in seconds.")
@click.option("--samplers", default="all", show_default=True,
              help="Resource samplers: all, none, or a list of process,nvml,tegrastats,rapl,raspberry_pi,thermal.")
@click.option("--tasks", metavar="NAMES", help="Accuracy tasks: mmlu,mmlu_cloze,hellaswag,sst2,... "
              "(see --list-tasks) or task .toml files.")
@click.option("--limit", type=click.IntRange(min=1), help="At most N examples per task (a --seed sample).")
@click.option("--shots", type=click.IntRange(min=0), help="Few-shot examples per question [default: the task's].")
@click.option("--task-source", metavar="NAME", help="Take task data from this source of the task file (e.g. hub).")
@click.option("--task-data", metavar="TASK=PATH", multiple=True,
              help="Task data from a folder in the task's own format (CMMLU CSVs, GLUE SST-2, ARC JSONL).")
@click.option("--task-ctx", type=click.IntRange(min=64), default=2048, show_default=True,
              help="Context size for tasks; longer prompts lose their oldest tokens.")
@click.option("--ppl", "corpus", metavar="CORPUS", help="Perplexity over a text corpus: gsm8k_text (offline), "
              "wikitext2 (hub) or a text file.")
@click.option("--ppl-ctx", type=click.IntRange(min=16), default=512, show_default=True,
              help="Perplexity window (as llama-perplexity -c).")
@click.option("--ppl-chunks", type=click.IntRange(min=1), help="At most N perplexity windows.")
@click.option("--kld-baseline", type=CheckedPath("file"),
              help="With --ppl: the F16/BF16 file each model's KL-divergence is measured against.")
@click.option("--synthetic", metavar="SOURCE", help="Also bench random-weight files with SOURCE's exact shapes and "
              "per-tensor types: a built-in shape (SmolLM2-135M, Llama-3.2-3B, Qwen2.5-7B, ...), a config.json or "
              "checkpoint folder, or a hub repo id (config and tokenizer only). Needs --quant.")
@click.option("--quant", "-q", "quant", metavar="LEVELS", help="With --synthetic: the levels to build, e.g. Q4_K_M,Q8_0.")
@click.option("--revision", help="With --synthetic and a hub repo id: branch, tag or commit.")
@click.option("--no-speed", is_flag=True, help="Only the tasks/perplexity, no speed sweep.")
@click.option("--list-tasks", is_flag=True, help="List the tasks and their data sources, then exit.")
@click.option("--no-progress", is_flag=True)
@click.option("--verbose", "-v", is_flag=True, help="Show llama.cpp's own log.")
def bench(models, threads, ngl, prompt_tokens, gen_tokens, depth, batch, ubatch, flash_attn, cache_type, ctx,
          repetitions, no_warmup, prompt_file, chat, temperature, seed, results, rerun, device_name, force,
          cell_timeout, cooldown, fmt, export_llama_bench, interval,
          samplers, tasks, limit, shots, task_source, task_data, task_ctx, corpus, ppl_ctx, ppl_chunks, kld_baseline,
          synthetic, quant, revision, no_speed, list_tasks, no_progress, verbose) -> None:
    """Measure llama.cpp on this device: prefill, TTFT, decode, per-token latency, memory, power.

    Every combination of the listed settings is one cell; each cell is appended to
    RESULTS/bench.jsonl as soon as it is measured, and a rerun skips cells already there.

    \b
    edgeprof bench models/SmolLM2-135M-Instruct-Q4_K_M.gguf
    edgeprof bench models/*.gguf -t 1,2,4 -p 64,512 -n 128 --ngl 0,all
    edgeprof bench model.gguf --prompt-file prompt.txt --chat -n 256
    edgeprof bench models/*.gguf --tasks mmlu_cloze,hellaswag --limit 200 --no-speed
    edgeprof bench models/*.gguf --ppl gsm8k_text --kld-baseline models/SmolLM2-135M-Instruct-F16.gguf
    edgeprof bench --synthetic meta-llama/Llama-3.2-3B --quant Q4_K_M,Q3_K_M --ctx 4096   # before downloading
    """
    from edgeprof import llamacpp
    from edgeprof.bench import commands
    from edgeprof.bench.sweep import SweepSpec, _cores

    if list_tasks:
        from edgeprof.bench.tasks.listing import describe_tasks

        click.echo(describe_tasks())
        return
    if bool(synthetic) != bool(quant):
        raise click.UsageError("--synthetic SOURCE and --quant LEVELS go together")
    if synthetic:
        llamacpp.init(verbose)
        models = (*models, *commands.synthetic_models(synthetic, quant, revision))
    if not models:
        raise click.UsageError("give one or more GGUF files (or --synthetic SOURCE --quant LEVELS)")
    if kld_baseline and not corpus:
        raise click.UsageError("--kld-baseline needs --ppl CORPUS")
    if no_speed and not (tasks or corpus):
        raise click.UsageError("--no-speed leaves nothing to do: add --tasks or --ppl")
    llamacpp.init(verbose)
    spec = SweepSpec(
        models=commands.check_models(models),
        threads=commands.int_list("--threads", threads) if threads else (_cores(),),
        n_gpu_layers=commands.int_list("--ngl", ngl, allow_all=True),
        n_prompt=commands.int_list("--prompt-tokens", prompt_tokens),
        n_gen=commands.int_list("--gen-tokens", gen_tokens), n_depth=commands.int_list("--depth", depth),
        n_batch=commands.int_list("--batch", batch), n_ubatch=commands.int_list("--ubatch", ubatch),
        flash_attn=commands.flash_list(flash_attn), cache_type=commands.cache_list(cache_type), n_ctx=ctx,
        repetitions=repetitions, warmup=not no_warmup,
        prompt_text=prompt_file.read_text(encoding="utf-8") if prompt_file else None,
        prompt_label=f"file:{prompt_file.name}" if prompt_file else "random", chat=chat, temperature=temperature,
        seed=seed, force=force, cell_timeout=cell_timeout, cooldown_c=cooldown,
        rerun=rerun, sampler_interval=interval, samplers=commands.sampler_list(samplers), device_name=device_name)
    quality = None
    if tasks or corpus:
        from edgeprof.bench.quality.run import QualitySpec

        quality = QualitySpec(
            tasks=commands.name_list(tasks), limit=limit, shots=shots, seed=seed, source=task_source,
            folders=commands.task_folders(task_data), task_ctx=task_ctx, corpus=corpus, ppl_ctx=ppl_ctx,
            ppl_chunks=ppl_chunks, kld_baseline=commands.check_models((kld_baseline,))[0] if kld_baseline else None,
            threads=spec.threads[0], n_gpu_layers=spec.n_gpu_layers[0], flash_attn=bool(spec.flash_attn[0]),
            rerun=rerun, device_name=device_name)
    commands.run(spec, results, fmt, export_llama_bench, progress=not no_progress, quality=quality,
                 speed=not no_speed)


RESULTS_OPTION = click.option(
    "--results", "folders", multiple=True, type=CheckedPath("existing"),
    help="A results folder (or its bench.jsonl); repeat it, one per device [default: results].")
FORMAT_OPTION = click.option("--format", "fmt", type=click.Choice(["png", "svg"]), default="png", show_default=True,
                             help="Image format of the figures.")


@cli.command()
@RESULTS_OPTION
@click.option("--out", type=CheckedPath("dir"), default=Path("figures"), show_default=True,
              help="Folder for the figures.")
@FORMAT_OPTION
def plot(folders, out, fmt) -> None:
    """Draw the tradeoff curves from recorded results (never runs a model).

    \b
    edgeprof plot                                   # results/ -> figures/
    edgeprof plot --results pi5/ --results orin/ --out compare/ --format svg
    """
    from edgeprof.plot import commands

    rendered = commands.plot(list(folders) or [Path("results")], out, fmt)
    click.echo(f"{sum(1 for r in rendered if r.path)} figures in {out}")


@cli.command()
@RESULTS_OPTION
@click.option("--out", type=CheckedPath("dir"), default=Path("report"), show_default=True,
              help="Folder for report.md, report.html and their figures.")
@click.option("--max-kld", type=click.FloatRange(min=0), help="Quality budget: mean KLD vs the unquantized file.")
@click.option("--min-acc", type=click.FloatRange(0, 1), help="Quality budget: accuracy on --task.")
@click.option("--task", help="The task --min-acc applies to [default: the first one recorded].")
@FORMAT_OPTION
def report(folders, out, max_kld, min_acc, task, fmt) -> None:
    """Write a Markdown report and a self-contained HTML page: leaderboard, advice, figures, tables.

    \b
    edgeprof report --max-kld 0.05
    edgeprof report --results pi5/ --results orin/ --min-acc 0.3 --task hellaswag --out report/
    """
    from edgeprof.plot import commands
    from edgeprof.plot.leaderboard import Budget

    md, page = commands.report(list(folders) or [Path("results")], out, fmt, Budget(max_kld, min_acc, task))
    click.echo(f"report: {page} (and {md.name})")


@cli.command("run")
@click.argument("models_file", required=False, default="models.toml", type=click.Path(path_type=Path))
@click.option("--device-name", metavar="NAME", help="What results call this device; its results go to "
              "OUTPUT_DIR/NAME [default: its model name or hostname].")
@click.option("--suite", help="Bench suite to run instead of the one models.toml names (demo, standard, a path).")
@FORMAT_OPTION
@click.option("--no-progress", is_flag=True, help="No progress bars.")
@click.option("--verbose", "-v", is_flag=True, help="Show llama.cpp's own log.")
def run_command(models_file, device_name, suite, fmt, no_progress, verbose) -> None:
    """Convert, bench, evaluate, plot and report every model in MODELS_FILE, per its bench suite.

    Everything already done is reused (converted files, measured cells, scored answers), so
    rerunning after a crash or Ctrl-C resumes.

    \b
    edgeprof run                                   # models.toml: the embedded demo model
    edgeprof run my-models.toml --device-name pi5 --suite standard
    """
    from edgeprof import llamacpp
    from edgeprof.workflow import RunOptions, run

    llamacpp.init(verbose)
    try:
        outcome = run(RunOptions(Path(models_file), device_name, suite, fmt, not no_progress),
                      lambda line: click.echo(line, err=True))
    except KeyboardInterrupt:
        click.echo("\nInterrupted: everything finished so far is kept; rerun the same command to resume.", err=True)
        raise SystemExit(130) from None
    click.echo(f"finished in {outcome.seconds / 60:.1f} min\n"
               f"results: {outcome.results}\nfigures: {outcome.figures}\n"
               f"report:  {outcome.report_html} (and {outcome.report_md.name})")


def main() -> None:
    """Console entry point."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:  # click turns Ctrl-C (KeyboardInterrupt) into Abort
        click.echo("Interrupted: finished files are kept; rerun the same command to resume.", err=True)
        sys.exit(130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("Interrupted: finished files are kept; rerun the same command to resume.", err=True)
        sys.exit(130)
