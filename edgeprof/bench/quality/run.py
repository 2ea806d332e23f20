"""The quality side of `edgeprof bench`: task accuracy and perplexity/KLD rows in the results store.

Each (model file, task or corpus, settings, device) is one row in ``bench.jsonl`` beside the speed
rows, skipped on a rerun once it is there. Task runs also keep one line per example in
``tasks/<cell>.jsonl`` (the choice made, the log-likelihoods), appended as they are scored, so an
interrupted run resumes where it stopped. KLD baselines are stored in ``baselines/``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from edgeprof.bench.engine import Context, ContextSettings, Model
from edgeprof.bench.store import ResultStore, cell_key
from edgeprof.errors import fail

SCHEMA = 1
MAX_SEQUENCES = 16  # choices scored in parallel (flash attention on); the unified cache holds them all
BATCH = 512  # n_batch = n_ubatch of quality contexts


@dataclass(frozen=True)
class QualitySpec:
    tasks: tuple[str, ...] = field(default=(), metadata={"help": "task names or task .toml paths"})
    limit: int | None = field(default=None, metadata={"help": "at most this many examples per task"})
    shots: int | None = field(default=None, metadata={"help": "few-shot examples; None = the task's default"})
    seed: int = field(default=42, metadata={"help": "seed of the --limit sample"})
    source: str | None = field(default=None, metadata={"help": "task data source by name (e.g. hub)"})
    folders: dict[str, Path] = field(default_factory=dict, metadata={"help": "task name -> data folder"})
    task_ctx: int = field(default=2048, metadata={"help": "context size for tasks (long prompts are cut left)"})
    corpus: str | None = field(default=None, metadata={"help": "perplexity corpus: a text task or a text file"})
    ppl_ctx: int = field(default=512, metadata={"help": "perplexity window (llama-perplexity -c)"})
    ppl_chunks: int | None = field(default=None, metadata={"help": "at most this many windows"})
    kld_baseline: Path | None = field(default=None, metadata={"help": "the f16/bf16 file KLD is measured against"})
    threads: int = field(default=4, metadata={"help": "CPU threads"})
    flash_attn: bool = field(default=False, metadata={
        "help": "flash attention; off by default: on the demo model it moves choice log-likelihoods by up to "
                "0.3 nats against the exact kernel"})
    n_gpu_layers: int = field(default=0, metadata={"help": "layers offloaded to the GPU"})
    rerun: bool = field(default=False, metadata={"help": "evaluate again what the store already has"})
    device_name: str | None = field(default=None, metadata={"help": "what rows call this device"})


@dataclass
class QualityRun:
    spec: QualitySpec
    store: ResultStore
    system: dict
    on_row: Callable[[dict], None]
    progress: bool
    done: set[str]

    def envelope(self, kind: str, key: str, info: dict, settings: dict) -> dict:
        return {"schema": SCHEMA, "kind": kind, "cell": key, "status": "ok",
                "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "model": info,
                "settings": {"n_threads": self.spec.threads, "n_gpu_layers": self.spec.n_gpu_layers,
                             "flash_attn": self.spec.flash_attn, "n_batch": BATCH, **settings},
                "system": self.system}

    def record(self, row: dict) -> None:
        self.store.append(row)
        self.on_row(row)


def run_quality(spec: QualitySpec, models: tuple[Path, ...], store: ResultStore,
                on_row: Callable[[dict], None], progress: bool = True) -> None:
    from edgeprof.bench.runner import model_info
    from edgeprof.bench.system import system_info

    infos = {path: model_info(path) for path in models}
    for path, info in infos.items():
        if info["synthetic"]:
            raise fail("task_synthetic", path=path)
    done = set() if spec.rerun else store.completed()
    run = QualityRun(spec, store, system_info(spec.device_name), on_row, progress, done)
    if spec.tasks:
        from edgeprof.bench.quality.task_rows import run_tasks

        run_tasks(run, infos)
    if spec.corpus:
        from edgeprof.bench.quality.ppl_rows import run_perplexity

        run_perplexity(run, infos)


def key_of(run: QualityRun, info: dict, **parts) -> str:
    return cell_key({"sha256": info["sha256"], "device": run.system["device_id"], "threads": run.spec.threads,
                     "ngl": run.spec.n_gpu_layers, "fa": run.spec.flash_attn, **parts})


def open_model(run: QualityRun, path: Path, n_ctx: int, n_seq_max: int = 1) -> tuple[Model, Context]:
    model = Model(path, run.spec.n_gpu_layers)
    settings = ContextSettings(n_ctx=n_ctx, n_batch=BATCH, n_ubatch=BATCH, n_threads=run.spec.threads,
                               n_seq_max=n_seq_max, flash_attn=run.spec.flash_attn)
    try:
        return model, Context(model, settings)
    except Exception:
        model.close()
        raise
