"""The quality side of `edgeprof bench`: task accuracy and perplexity/KLD rows in the results store.

Each (model file, task or corpus, settings, device) is one row in ``bench.jsonl`` beside the speed
rows, skipped on a rerun once it is there. Task scoring also keeps one line per example in
``tasks/<cell>.jsonl`` (the choice made, the log-likelihoods), appended as they are scored, so an
interrupted bench resumes where it stopped. KLD baselines are stored in ``baselines/``.
"""

from __future__ import annotations

from collections.abc import Callable

from edgeprof.bench.quality.session import QualitySession, QualitySpec
from edgeprof.errors import fail
from edgeprof.model_file import ModelFile
from edgeprof.results.store import ResultStore


def evaluate(spec: QualitySpec, models: tuple[ModelFile, ...], store: ResultStore,
             on_row: Callable[[dict], None], progress: bool = True) -> None:
    """Score every task of ``spec`` and measure its perplexity/KLD on each model file; rows already in
    the store are skipped unless ``spec.rerun``."""
    from edgeprof.bench.system import system_info

    for model in models:
        if model.info["synthetic"]:
            raise fail("task_synthetic", path=model.path)
    done = set() if spec.rerun else store.completed()
    session = QualitySession(spec, store, system_info(spec.device_name), on_row, progress, done)
    infos = {model: model.info for model in models}
    if spec.tasks:
        from edgeprof.bench.quality.task_rows import score_tasks

        score_tasks(session, infos)
    if spec.corpus:
        from edgeprof.bench.quality.ppl_rows import measure_perplexity

        measure_perplexity(session, infos)
