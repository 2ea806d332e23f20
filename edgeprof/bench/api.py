"""What `edgeprof bench` and `edgeprof run` call: the speed sweep and the quality checks of a set of
model files, every row stored as it is measured. Nothing here prints; progress lines go to ``say``."""

from __future__ import annotations

from edgeprof.errors import MESSAGES, fail
from edgeprof.progress import Say, quiet
from edgeprof.results.store import ResultStore


class Tally:
    """What a bench needs to remember of its rows: counts and the distinct errors. The rows themselves
    are on disk (read back from where this bench started for printing), so a sweep of thousands of
    cells holds no per-cell memory."""

    def __init__(self):
        self.rows = self.failed = 0
        self.errors: dict[str, None] = {}

    def add(self, row: dict) -> None:
        self.rows += 1
        if row.get("status") == "failed":
            self.failed += 1
            self.errors.setdefault(row["error"])


def bench(spec, store: ResultStore, tally: Tally, quality=None, speed: bool = True, progress: bool = True,
          say: Say = quiet) -> None:
    """The speed sweep of ``spec`` (when ``speed``), then the ``quality`` checks of the same files."""
    if speed:
        measure_speed(spec, store, tally, progress, say)
    if quality is not None:
        from edgeprof.bench.quality.evaluate import evaluate

        evaluate(quality, spec.models, store, tally.add, progress)


def measure_speed(spec, store: ResultStore, tally: Tally, progress: bool, say: Say = quiet,
                  strict: bool = True) -> None:
    """Measure every cell of the sweep; failed cells are recorded and named. ``strict``: an error when
    nothing at all could be measured (the bench command), not for one scenario of `edgeprof run`."""
    from tqdm import tqdm

    from edgeprof.bench.runner import sweep_models
    from edgeprof.bench.sweep import plan

    skipped = []
    cells = plan(spec)
    for line in beyond_training(cells):
        say(line)
    with tqdm(total=len(cells), desc="bench", unit="cell", disable=not progress or None) as bar:
        def on_row(row: dict) -> None:
            tally.add(row)
            bar.update(1)

        def on_skip(cell) -> None:
            skipped.append(cell)
            bar.update(1)

        sweep_models(spec, store, on_row, on_skip)
    for error in tally.errors:
        say(f"failed: {error}")
    if strict and tally.failed and tally.failed == tally.rows and not skipped:
        raise fail("nothing_measured", n=tally.failed)
    if skipped:
        say(f"skipped {len(skipped)} cells already in {store.path} (use --rerun to measure them again)")


def beyond_training(cells) -> list[str]:
    """A note per model whose longest cell (depth + prompt + generation) goes past the context it was
    trained on (its GGUF's <arch>.context_length): llama.cpp runs it, but the numbers there describe
    a model out of its range (RoPE beyond its training, quality lost), which nothing else would say."""
    longest: dict = {}
    for cell in cells:
        n = cell.workload.n_depth + cell.workload.n_prompt + cell.workload.n_gen
        longest[cell.model] = max(longest.get(cell.model, 0), n)
    notes = []
    for model, n_tokens in longest.items():
        meta = getattr(model, "metadata", {})
        n_train = meta.get(f"{meta.get('general.architecture')}.context_length")
        if isinstance(n_train, int) and 0 < n_train < n_tokens:
            notes.append(MESSAGES["beyond_trained_context"].format(path=model, n_tokens=n_tokens, n_train=n_train))
    return notes
