"""`edgeprof bench --list-tasks`: every task file, its kind and where its data can come from."""

from __future__ import annotations


def describe_tasks() -> str:
    from edgeprof.bench.tasks.definition import load_task, task_dir, task_names

    lines = [f"tasks in {task_dir()} (pick with --tasks; kind text is a --ppl corpus):"]
    for name in task_names():
        task = load_task(name)
        lines.append(f"  {name:<16} {task.kind:<9} {task.title}")
        for source in task.sources:
            where = {"package": f"PyPI package {source.location}", "repo": f"hub dataset {source.location}",
                     "shipped": f"shipped bench/{source.location}", "folder": f"--task-data {name}=DIR"}[source.kind]
            lines.append(f"  {'':<16} {'':<9} source {source.name}: {where}")
    return "\n".join(lines)
