"""Run the fleet playbook with ansible-runner and say what happened on each host.

Ansible does the fleet work: one fork per board (in parallel), `strategy: free` (no board waits for
another), retries on copies and fetches, a per-task timeout on `edgeprof run`, host-key checking as the
user's Ansible configures it, facts. This module gives it its inputs, turns its event stream into one
log per host and one outcome per host, and keeps secrets out of both."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

PLAYBOOK = Path(__file__).with_name("playbook.yml")
SECRET_VARIABLES = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")
# playbook tasks whose success is worth a line while the fleet runs (the rest go to the per-host logs)
MILESTONES = {"is it a Jetson": "Python and C compiler checked",
              "install edgeprof (llama-cpp-python built here where no wheel fits)": "edgeprof installed",
              "edgeprof run": "edgeprof run finished", "fetch the results": "results fetched"}


@dataclass(frozen=True)
class PlaybookInputs:
    inventory: Path = field(metadata={"help": "the Ansible inventory"})
    bundle: Path = field(metadata={"help": "folder with wheels/ and work/ to copy to every board"})
    version: str = field(metadata={"help": "the edgeprof version the boards install (the bundle's wheel)"})
    run_args: tuple[str, ...] = field(metadata={"help": "`edgeprof run` arguments after models.toml"})
    fetch_dir: Path = field(metadata={"help": "where each board's results.tgz lands"})
    logs: Path = field(metadata={"help": "folder of per-host logs"})
    limit: str | None = field(default=None, metadata={"help": "Ansible --limit: groups or hosts"})
    forks: int = field(default=10, metadata={"help": "boards worked on at once"})
    offline: bool = field(default=False, metadata={"help": "boards install from the bundle's wheels only"})
    forward_hf_token: bool = field(default=False, metadata={"help": "pass HF_TOKEN to `edgeprof run` on boards"})


@dataclass(frozen=True)
class HostOutcome:
    host: str = field(metadata={"help": "inventory name"})
    status: str = field(metadata={"help": "ok, failed or unreachable"})
    task: str | None = field(default=None, metadata={"help": "the task that failed"})
    message: str | None = field(default=None, metadata={"help": "why, in one line"})


def secrets() -> list[str]:
    """Values never to be written anywhere (tokens in this process's environment)."""
    return [v for v in (os.environ.get(k) for k in SECRET_VARIABLES) if v and len(v) >= 4]


def scrub(text: str, hidden: list[str]) -> str:
    for value in hidden:
        text = text.replace(value, "***")
    return text


class _Events:
    """ansible-runner's event stream -> per-host log lines and the last failure of each host."""

    def __init__(self, logs: Path, hidden: list[str], say=None):
        self.logs = logs
        self.hidden = hidden
        self.say = say
        self.failures: dict[str, tuple[str, str, str]] = {}  # host -> (status, task, message)
        self.seen: set[str] = set()

    def __call__(self, event: dict) -> bool:
        kind = event.get("event", "")
        data = event.get("event_data") or {}
        host = data.get("host")
        if not host or not kind.startswith("runner_on_"):
            return True
        self.seen.add(host)
        status = kind.removeprefix("runner_on_")
        result = data.get("res") or {}
        task = data.get("task", "")
        if status in ("failed", "unreachable") and not data.get("ignore_errors"):
            self.failures[host] = (status, task, _one_line(result))
            self._progress(f"{host}: {task}: {status}: {scrub(self.failures[host][2], self.hidden)}")
        elif status == "ok" and task in MILESTONES and result.get("rc", 0) == 0:
            self._progress(f"{host}: {MILESTONES[task]}")
        if status != "start":
            self._log(host, status, task, result)
        return True

    def _progress(self, line: str) -> None:
        if self.say is not None:
            self.say(line)

    def _log(self, host: str, status: str, task: str, result: dict) -> None:
        lines = [f"{time.strftime('%Y-%m-%d %H:%M:%S')} {task}: {status}"]
        for key in ("msg", "stdout", "stderr"):
            value = result.get(key)
            if value and isinstance(value, str):
                lines += [f"  {key}: {line}" for line in value.splitlines()]
        with open(self.logs / f"{host}.log", "a", encoding="utf-8") as log:
            log.write(scrub("\n".join(lines), self.hidden) + "\n")


def _one_line(result: dict) -> str:
    """The most telling line of a failed task's result."""
    for key in ("msg", "stderr", "stdout"):
        value = result.get(key)
        if isinstance(value, str) and value.strip():
            text = value.strip().splitlines()
            if key == "msg" and text[0].startswith("non-zero return code") and result.get("stderr"):
                continue
            return text[-1] if key != "msg" else text[0]
    return "failed (no message)"


def run_playbook(inputs: PlaybookInputs, hosts: list[str], more_vars: dict | None = None,
                 say=None) -> list[HostOutcome]:
    """Run the playbook on ``hosts`` (already read from the inventory) and return one outcome each;
    ``more_vars`` override the inventory's (Ansible extra variables)."""
    from edgeprof.errors import fail

    inputs.logs.mkdir(parents=True, exist_ok=True)
    inputs.fetch_dir.mkdir(parents=True, exist_ok=True)
    hidden = secrets()
    events = _Events(inputs.logs, hidden, say)
    for host in hosts:
        with open(inputs.logs / f"{host}.log", "a", encoding="utf-8") as log:
            log.write(f"== {time.strftime('%Y-%m-%d %H:%M:%S')} edgeprof fleet, edgeprof {inputs.version}\n")
    # ansible-runner keeps job events (task arguments included) on disk: in a folder of our own, removed after
    private = Path(tempfile.mkdtemp(prefix="edgeprof-fleet-"))
    try:
        runner = _start(private, inputs, events, more_vars)
        if not events.seen:  # not one host answered anything: Ansible itself did not run
            tail = scrub(runner.stdout.read(), hidden).strip().splitlines()[-3:] if runner.stdout else []
            raise fail("fleet_runner", detail=f"ansible-playbook ended {runner.status} (rc {runner.rc}): "
                       + " / ".join(tail or ["no output"]))
    finally:
        shutil.rmtree(private, ignore_errors=True)
    return [_outcome(host, events) for host in hosts]


def _start(private: Path, inputs: PlaybookInputs, events: _Events, more_vars: dict | None):
    import ansible_runner

    from edgeprof.errors import fail

    try:
        return ansible_runner.run(
            private_data_dir=str(private), playbook=str(PLAYBOOK), suppress_env_files=True,
            inventory=str(inputs.inventory.resolve()), limit=inputs.limit, forks=max(1, inputs.forks), quiet=True,
            event_handler=events, extravars={**_extravars(inputs), **(more_vars or {})},
            envvars={"ANSIBLE_NOCOLOR": "1", "ANSIBLE_RETRY_FILES_ENABLED": "0", "PATH": _path_with_ansible()})
    except Exception as exc:  # a runner that cannot start: one line, not its traceback
        raise fail("fleet_runner", detail=str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from exc


def _path_with_ansible() -> str:
    """PATH with the folder of ansible-playbook first (ansible-runner starts it by name)."""
    from edgeprof.fleet.inventory import ansible_tool

    return os.pathsep.join([str(Path(ansible_tool("ansible-playbook")).parent), os.environ.get("PATH", "")])


def _extravars(inputs: PlaybookInputs) -> dict:
    return {"edgeprof_bundle": str(inputs.bundle.resolve()), "edgeprof_version": inputs.version,
            "edgeprof_run_args": list(inputs.run_args), "edgeprof_offline": inputs.offline,
            "edgeprof_fetch_dir": str(inputs.fetch_dir.resolve()), "edgeprof_forward_hf_token": inputs.forward_hf_token}


def _outcome(host: str, events: _Events) -> HostOutcome:
    if host in events.failures:
        status, task, message = events.failures[host]
        return HostOutcome(host, status, task, scrub(message, events.hidden))
    if host not in events.seen:
        return HostOutcome(host, "unreachable", None, "Ansible ran nothing there")
    return HostOutcome(host, "ok")
