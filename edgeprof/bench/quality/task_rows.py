"""Task accuracy rows: load each task's data once, then score it on every model file."""

from __future__ import annotations

import time
from pathlib import Path

from edgeprof.bench.chat import ChatFormat, ChatTemplate, template_of
from edgeprof.bench.quality.session import MAX_SEQUENCES, QualitySession, key_of, open_model
from edgeprof.bench.tasks import prompts, score
from edgeprof.bench.tasks.code import code_metrics
from edgeprof.bench.tasks.data import TaskData, load
from edgeprof.bench.tasks.definition import load_task
from edgeprof.bench.tasks.examples import sample
from edgeprof.bench.tasks.metrics import classification, summarize
from edgeprof.bench.tasks.translation import corpus_metrics
from edgeprof.errors import fail
from edgeprof.model_file import ModelFile
from edgeprof.results.store import append_jsonl, read_jsonl

# translate: corpus-level
METRICS = {"choice": ("acc", "acc_norm"), "generate": ("exact_match",), "translate": (), "code": ("pass@1",),
           "mc2": ("acc",)}  # by the task's kind, or its metric where it has one
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

    def key(self, session: QualitySession, info: dict, template: ChatTemplate | None = None) -> str:
        spec = session.spec
        chat = {"chat": template.key} if template else {}  # plain prompts keep the keys they always had
        return key_of(session, info, task=self.task.name, source=self.data.located.description, shots=self.shots,
                      limit=spec.limit, seed=spec.seed, task_ctx=spec.task_ctx, **chat)

    def max_choices(self) -> int:
        return max((len(e.choices) for e in self.examples), default=1)


def score_tasks(session: QualitySession, infos: dict[ModelFile, dict]) -> None:
    plans = [_Plan(session, name) for name in session.spec.tasks]
    for path, info in infos.items():
        template = template_of(path.metadata) if session.spec.chat else None
        todo = [(p, p.key(session, info, template)) for p in plans]
        todo = [(p, k) for p, k in todo if k not in session.done]
        if not todo:
            continue
        sequences = min(MAX_SEQUENCES, max(p.max_choices() for p, _ in todo) + 1)
        model, ctx = open_model(session, path, session.spec.task_ctx, sequences)
        with model, ctx:
            for plan, key in todo:
                _evaluate(session, ctx, info, plan, key, template)


def _evaluate(session: QualitySession, ctx, info: dict, plan: _Plan, key: str,
              template: ChatTemplate | None = None) -> None:
    from tqdm import tqdm

    details = session.store.folder / "tasks" / f"{key}.jsonl"
    earlier = _earlier(details)
    todo = [e for e in plan.examples if e.id not in earlier]
    outcomes = [earlier[e.id] for e in plan.examples if e.id in earlier]
    metric = next(iter(METRICS[plan.task.metric or plan.task.kind]), None)
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
            if metric:
                bar.set_postfix({metric: f"{sum(o[metric] for o in outcomes) / len(outcomes):.3f}"}, refresh=False)

        try:
            task, chat = (prompts.for_chat(plan.task), ChatFormat(ctx.model).prompt) if template else (plan.task, None)
            cache = score.score_examples(ctx, task, todo, plan.pool, plan.shots, plan.data.dev is None, on_outcome,
                                         chat)
        finally:
            append_jsonl(details, pending)
    seconds = time.perf_counter() - started
    session.record(_row(session, info, plan, key, outcomes, details, seconds, len(todo), cache, template))


def _earlier(details: Path) -> dict[str, dict]:
    """Outcomes an interrupted run already scored (a torn last line is scored again)."""
    return {outcome["id"]: outcome for outcome in read_jsonl(details) if "id" in outcome}


def _row(session: QualitySession, info: dict, plan: _Plan, key: str, outcomes: list[dict], details: Path,
         seconds: float, n_scored: int, cache, template: ChatTemplate | None = None) -> dict:
    task = plan.task
    metrics = (corpus_metrics(outcomes, task.generate.bleu_tokenize) if task.kind == "translate"
               else summarize(outcomes, METRICS[task.metric or task.kind]))
    if task.kind == "code":  # pass@k with its standard error, how the programs ended, what the sandbox enforced
        metrics.update(code_metrics(outcomes, task.generate))
    if task.classification:
        labels = task.prompt.choices or tuple(str(i) for i in range(plan.max_choices()))
        metrics.update(classification([o["gold"] for o in outcomes], [o["pred"] for o in outcomes], labels,
                                      task.positive))
    row = session.envelope("task", key, info, {"n_ctx": session.spec.task_ctx})
    row["task"] = {"name": task.name, "title": task.title, "kind": task.kind, "group_label": task.group_label,
                   "source": plan.data.located.description, "licence": plan.data.source.licence,
                   "shots": plan.shots, "limit": session.spec.limit, "seed": session.spec.seed,
                   "n_examples": len(plan.examples), "records_skipped": plan.data.test.skipped,
                   "chat": template is not None}
    if template:
        row["task"]["chat_template"] = template.as_row()
    row["metrics"] = metrics
    row["eval"] = {"seconds": round(seconds, 3), "examples_scored": n_scored,
                   "examples_per_s": round(n_scored / seconds, 3) if seconds > 0 and n_scored else None,
                   "prompt_tokens_decoded": cache.decoded, "prompt_tokens_reused": cache.reused,
                   "resumed": len(outcomes) - n_scored}
    row["details"] = str(details.relative_to(session.store.folder))
    return row

