"""What every quality check of one bench shares: its settings, the store, the row envelope, cell keys.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from edgeprof.bench.engine import Context, ContextSettings, Model
from edgeprof.model_file import ModelFile
from edgeprof.results.rows import envelope
from edgeprof.results.store import ResultStore, cell_key

MAX_SEQUENCES = 16  # choices scored in parallel (flash attention on); the unified cache holds them all
BATCH = 512  # n_batch = n_ubatch of quality contexts


@dataclass(frozen=True)
class QualitySpec:
    tasks: tuple[str, ...] = field(default=(), metadata={"help": "task names or task .toml paths"})
    limit: int | None = field(default=None, metadata={"help": "at most this many examples per task"})
    shots: int | None = field(default=None, metadata={"help": "few-shot examples; None = the task's default"})
    seed: int = field(default=42, metadata={"help": "seed of the --limit sample"})
    chat: bool = field(default=False, metadata={"help": "task prompts through the model's chat template"})
    source: str | None = field(default=None, metadata={"help": "task data source by name (e.g. hub)"})
    folders: dict[str, Path] = field(default_factory=dict, metadata={"help": "task name -> data folder"})
    task_ctx: int = field(default=2048, metadata={"help": "context size for tasks (long prompts are cut left)"})
    corpus: str | None = field(default=None, metadata={"help": "perplexity corpus: a text task or a text file"})
    ppl_ctx: int = field(default=512, metadata={"help": "perplexity window (llama-perplexity -c)"})
    ppl_chunks: int | None = field(default=None, metadata={"help": "at most this many windows"})
    kld_baseline: ModelFile | None = field(default=None, metadata={"help": "the f16/bf16 file KLD is measured against"})
    threads: int = field(default=4, metadata={"help": "CPU threads"})
    flash_attn: bool = field(default=False, metadata={
        "help": "flash attention; off by default: on the demo model it moves choice log-likelihoods by up to "
                "0.3 nats against the exact kernel"})
    n_gpu_layers: int = field(default=0, metadata={"help": "layers offloaded to the GPU"})
    rerun: bool = field(default=False, metadata={"help": "evaluate again what the store already has"})
    device_name: str | None = field(default=None, metadata={"help": "what rows call this device"})


@dataclass
class QualitySession:
    spec: QualitySpec
    store: ResultStore
    system: dict
    on_row: Callable[[dict], None]
    progress: bool
    done: set[str]

    def envelope(self, kind: str, key: str, info: dict, settings: dict) -> dict:
        return envelope(kind, key, info, {"n_threads": self.spec.threads, "n_gpu_layers": self.spec.n_gpu_layers,
                                          "flash_attn": self.spec.flash_attn, "n_batch": BATCH, **settings},
                        self.system)

    def record(self, row: dict) -> None:
        self.store.append(row)
        self.on_row(row)


def key_of(session: QualitySession, info: dict, **parts) -> str:
    """A row's cell key: the file, the device (fingerprint and name), the settings and ``parts``."""
    return cell_key(_parts(session, info, parts), session.system["device_name"])


def file_key_of(session: QualitySession, info: dict, **parts) -> str:
    """The key of a file kept beside the rows (a KLD baseline's logits): as a row's, without the
    device's name, which the numbers do not depend on."""
    return cell_key(_parts(session, info, parts))


def _parts(session: QualitySession, info: dict, parts: dict) -> dict:
    return {"sha256": info["sha256"], "device": session.system["device_id"], "threads": session.spec.threads,
            "ngl": session.spec.n_gpu_layers, "fa": session.spec.flash_attn, **parts}


def open_model(session: QualitySession, path: Path | ModelFile, n_ctx: int,
               n_seq_max: int = 1) -> tuple[Model, Context]:
    model = Model(path, session.spec.n_gpu_layers)
    settings = ContextSettings(n_ctx=n_ctx, n_batch=BATCH, n_ubatch=BATCH, n_threads=session.spec.threads,
                               n_seq_max=n_seq_max, flash_attn=session.spec.flash_attn)
    try:
        return model, Context(model, settings)
    except Exception:
        model.close()
        raise
