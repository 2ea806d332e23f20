"""Task accuracy rows: load each task's data once, then score it on every model file."""

from __future__ import annotations

import time
from pathlib import Path

from edgeprof.bench.quality.session import MAX_SEQUENCES, QualitySession, key_of, open_model
from edgeprof.bench.tasks import score
from edgeprof.bench.tasks.data import TaskData, load
from edgeprof.bench.tasks.definition import load_task
from edgeprof.bench.tasks.examples import sample
from edgeprof.bench.tasks.metrics import classification, summarize
from edgeprof.errors import fail
from edgeprof.model_file import ModelFile
from edgeprof.results.store import append_jsonl, read_jsonl

METRICS = {"choice": ("acc", "acc_norm"), "generate": ("exact_match",)}
FLUSH_EVERY = 16  # per-example lines written (and fsynced) in groups: a crash loses at most these


class _Plan:
    """One task, ready to score: its data, the sample asked for, the few-shot pool."""

    def __init__(self, session: QualitySession, name: str):
        spec = session.spec
        self.task = load_task(name)
        if self.task.kind == "text":
            raise fail("bad_sweep", option="--tasks", detail=f"{name} is a text corpus: use --ppl {name}")
        self.data: TaskData = load(self.task, spec.source, spec.folders.get(self.task.name))
        self.examples = sample(self.data.test.examples, spec.limit, spec.seed)
        self.shots = self.task.shots if spec.shots is None else spec.shots
        self.pool = (self.data.dev or self.data.test).examples

    def key(self, session: QualitySession, info: dict) -> str:
        spec = session.spec
        return key_of(session, info, task=self.task.name, source=self.data.located.description, shots=self.shots,
                      limit=spec.limit, seed=spec.seed, task_ctx=spec.task_ctx)

    def max_choices(self) -> int:
        return max((len(e.choices) for e in self.examples), default=1)


def score_tasks(session: QualitySession, infos: dict[ModelFile, dict]) -> None:
    plans = [_Plan(session, name) for name in session.spec.tasks]
    for path, info in infos.items():
        todo = [(p, p.key(session, info)) for p in plans]
        todo = [(p, k) for p, k in todo if k not in session.done]
        if not todo:
            continue
        sequences = min(MAX_SEQUENCES, max(p.max_choices() for p, _ in todo) + 1)
        model, ctx = open_model(session, path, session.spec.task_ctx, sequences)
        with model, ctx:
            for plan, key in todo:
                _evaluate(session, ctx, info, plan, key)


def _evaluate(session: QualitySession, ctx, info: dict, plan: _Plan, key: str) -> None:
    from tqdm import tqdm

    details = session.store.folder / "tasks" / f"{key}.jsonl"
    earlier = _earlier(details)
    todo = [e for e in plan.examples if e.id not in earlier]
    outcomes = [earlier[e.id] for e in plan.examples if e.id in earlier]
    metric = METRICS[plan.task.kind][0]
    pending: list[dict] = []
    started = time.perf_counter()
    with tqdm(total=len(plan.examples), initial=len(outcomes), desc=f"{plan.task.name} {info['file']}",
              unit="q", disable=not session.progress or None, leave=False) as bar:
        def on_outcome(outcome: dict) -> None:
            outcomes.append(outcome)
            pending.append(outcome)
            if len(pending) >= FLUSH_EVERY:
                append_jsonl(details, pending)
                pending.clear()
            bar.update(1)
            bar.set_postfix({metric: f"{sum(o[metric] for o in outcomes) / len(outcomes):.3f}"}, refresh=False)

        try:
            cache = score.score_examples(ctx, plan.task, todo, plan.pool, plan.shots, plan.data.dev is None, on_outcome)
        finally:
            append_jsonl(details, pending)
    seconds = time.perf_counter() - started
    session.record(_row(session, info, plan, key, outcomes, details, seconds, len(todo), cache))


def _earlier(details: Path) -> dict[str, dict]:
    """Outcomes an interrupted run already scored (a torn last line is scored again)."""
    return {outcome["id"]: outcome for outcome in read_jsonl(details) if "id" in outcome}


def _row(session: QualitySession, info: dict, plan: _Plan, key: str, outcomes: list[dict], details: Path,
         seconds: float, n_scored: int, cache) -> dict:
    task = plan.task
    metrics = summarize(outcomes, METRICS[task.kind])
    if task.classification:
        labels = task.prompt.choices or tuple(str(i) for i in range(plan.max_choices()))
        metrics.update(classification([o["gold"] for o in outcomes], [o["pred"] for o in outcomes], labels,
                                      task.positive))
    row = session.envelope("task", key, info, {"n_ctx": session.spec.task_ctx})
    row["task"] = {"name": task.name, "title": task.title, "kind": task.kind, "group_label": task.group_label,
                   "source": plan.data.located.description, "licence": plan.data.source.licence,
                   "shots": plan.shots, "limit": session.spec.limit, "seed": session.spec.seed,
                   "n_examples": len(plan.examples), "records_skipped": plan.data.test.skipped}
    row["metrics"] = metrics
    row["eval"] = {"seconds": round(seconds, 3), "examples_scored": n_scored,
                   "examples_per_s": round(n_scored / seconds, 3) if seconds > 0 and n_scored else None,
                   "prompt_tokens_decoded": cache.decoded, "prompt_tokens_reused": cache.reused,
                   "resumed": len(outcomes) - n_scored}
    row["details"] = str(details.relative_to(session.store.folder))
    return row

