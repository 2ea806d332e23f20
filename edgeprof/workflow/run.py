"""`edgeprof run`: convert every model of a models.toml (reusing finished files), bench and evaluate
it per the file's bench suite, then plot and write the report. Every stage skips what is already
done, so a rerun after a crash or Ctrl-C resumes where it stopped."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from edgeprof.levels import UNQUANTIZED
from edgeprof.model_file import ModelFile, open_model_file
from edgeprof.paths import all_cores
from edgeprof.progress import Say


@dataclass(frozen=True)
class RunOptions:
    models_file: Path = field(metadata={"help": "the models.toml to run"})
    device_name: str | None = field(default=None, metadata={"help": "what results call this device"})
    suite: str | None = field(default=None, metadata={"help": "a bench suite instead of the file's own"})
    image_format: str = field(default="png", metadata={"help": "figure format: png or svg"})
    progress: bool = field(default=True, metadata={"help": "progress bars"})


@dataclass(frozen=True)
class RunOutcome:
    results: Path = field(metadata={"help": "this device's results folder"})
    report_html: Path = field(metadata={"help": "the HTML report"})
    report_md: Path = field(metadata={"help": "the Markdown report"})
    figures: Path = field(metadata={"help": "the figures folder"})
    seconds: float = field(metadata={"help": "wall time of the whole run"})


def run_models_file(options: RunOptions, say: Say) -> RunOutcome:
    """`edgeprof run`: every model of the file through convert, bench, evaluate; then plot and report."""
    from edgeprof.bench.suite import load_suite
    from edgeprof.bench.system import system_info
    from edgeprof.locks import hold
    from edgeprof.paths import slug
    from edgeprof.results.store import ResultStore
    from edgeprof.workflow.models_file import load_models_file

    started = time.perf_counter()
    models = load_models_file(options.models_file)
    suite = load_suite(options.suite or models.suite, options.models_file.parent)
    system = system_info(options.device_name)
    store = ResultStore(models.output_dir / slug(system["device_name"]))
    _check_outputs(models.output_dir, store)
    # one command at a time in the folders a run writes (its report child holds the report folder)
    with hold(store.folder, "edgeprof run", "--device-name (or output_dir in models.toml)", say), \
            hold(models.output_dir / "models", "edgeprof run", "output_dir in models.toml", say):
        say(f"suite {suite.name}: {suite.description}")
        for spec in models.models:
            files = _convert(spec, models.output_dir / "models", options, say)
            _bench(suite, files, store, system, options, say)
            _evaluate(suite, files, store, options, say)
        md, page = draw_report(models.output_dir, suite, options.image_format, say)
    return RunOutcome(store.folder, page, md, page.parent / "figures", time.perf_counter() - started)


def _check_outputs(output_dir: Path, store) -> None:
    """Every folder a run writes, checked before the first conversion (through symbolic links)."""
    from edgeprof.paths import check_appendable, check_writable

    for folder in (output_dir / "models", store.folder, store.folder / "tasks", store.folder / "baselines",
                   output_dir / "report", output_dir / "report" / "figures"):
        check_writable(folder)
    check_appendable(store.path)


def _convert(spec, out_dir: Path, options: RunOptions, say: Say) -> dict[str, ModelFile]:
    from edgeprof.quantize.pipeline import ConvertOptions, convert
    from edgeprof.workflow.imatrix_corpus import model_imatrix

    say(f"== convert {spec.name} ({spec.source})")
    # with an importance matrix every level comes out as `convert --imatrix` makes it
    # (<name>-<LEVEL>-imatrix.gguf), still keyed by its level for the suite's scenarios
    rows = convert(spec.source, ConvertOptions(levels=spec.levels, outtype=spec.outtype, out_dir=out_dir,
                                               name=spec.name, revision=spec.revision, progress=options.progress,
                                               imatrix=model_imatrix(spec)), say)
    from edgeprof.quantize.summary import summary_table

    say(summary_table(rows))
    return {row.level: open_model_file(row.path) for row in rows}  # each header read once per run


def _bench(suite, files: dict[str, ModelFile], store, system: dict, options: RunOptions, say: Say) -> None:
    from edgeprof.bench.api import Tally, measure_speed
    from edgeprof.bench.suite import AUTO_LAYERS
    from edgeprof.bench.sweep import SweepSpec

    has_gpu = system["gpu_offload_supported"] and bool(system["gpus"])
    for scenario in suite.scenarios:
        if scenario.needs_gpu and not has_gpu:
            say(f"== bench {scenario.name}: skipped, no GPU offload on this device")
            continue
        paths = [files[lv] for lv in (scenario.levels or files) if lv in files]
        if not paths:
            say(f"== bench {scenario.name}: skipped, none of its levels ({', '.join(scenario.levels)}) were converted")
            continue
        say(f"== bench {scenario.name}: {len(paths)} file(s)")
        layers = tuple(dict.fromkeys((-1 if has_gpu else 0) if n == AUTO_LAYERS else n for n in scenario.n_gpu_layers))
        spec = SweepSpec(models=tuple(paths), threads=scenario.threads or (all_cores(),),
                         n_gpu_layers=layers, n_prompt=scenario.n_prompt, n_gen=scenario.n_gen,
                         n_depth=scenario.n_depth, repetitions=scenario.repetitions, device_name=options.device_name)
        measure_speed(spec, store, Tally(), options.progress, say, strict=False)


def _evaluate(suite, files: dict[str, ModelFile], store, options: RunOptions, say: Say) -> None:
    from edgeprof.bench.quality.evaluate import evaluate
    from edgeprof.bench.quality.session import QualitySpec

    checks = suite.quality
    if checks is None or not (checks.tasks or checks.corpus):
        return
    baseline = next((files[lv] for lv in UNQUANTIZED if lv in files), None)
    say(f"== evaluate: {', '.join(checks.tasks) or '-'}; perplexity: {checks.corpus or '-'}")
    spec = QualitySpec(tasks=checks.tasks, limit=checks.limit, shots=checks.shots, corpus=checks.corpus,
                       ppl_ctx=checks.ppl_ctx, ppl_chunks=checks.ppl_chunks,
                       kld_baseline=baseline if checks.kld and checks.corpus else None,
                       threads=all_cores(), device_name=options.device_name)
    evaluate(spec, tuple(files.values()), store, lambda row: None, options.progress)


def device_folders(output_dir: Path) -> list[Path]:
    """Every results folder under the output folder: this device's and any copied in from others."""
    return sorted(p.parent for p in output_dir.glob("*/bench.jsonl"))


def draw_report(output_dir: Path, suite, image_format: str, say: Say) -> tuple[Path, Path]:
    """Plot and report in a fresh process: it reads only the results, and keeps matplotlib's native
    code apart from llama.cpp's GPU libraries (on the H100 device, whose matplotlib came from another
    Python environment, importing its Agg backend after CUDA libllama segfaulted)."""
    import subprocess
    import sys

    from edgeprof.errors import fail
    from edgeprof.processes import stop

    folders = device_folders(output_dir)
    out = output_dir / "report"
    say(f"== plot and report: {', '.join(str(f) for f in folders)}")
    command = [sys.executable, "-m", "edgeprof", "report", "--out", str(out), "--image-format", image_format]
    for folder in folders:
        command += ["--results", str(folder)]
    if suite.max_kld is not None:
        command += ["--max-kld", str(suite.max_kld)]
    if suite.min_acc is not None:
        command += ["--min-acc", str(suite.min_acc)]
    child = None
    try:
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        code = child.wait()
    except BaseException:  # Ctrl-C, SIGTERM, SIGHUP: the report removes its partial files and ends first
        if child is not None:
            stop(child)
        raise
    if code != 0:
        raise fail("report_failed", code=code, command=" ".join(command[1:]))
    return out / "report.md", out / "report.html"
