"""`edgeprof fleet` end to end on real SSH boards (tests/sshd_boards.py: one sshd and one Linux user per
board on 127.0.0.1, host-key checking on) through real Ansible: install from a wheel built here, a model
converted here and copied, `edgeprof run` on each board, results fetched and merged into one report.

The boards install offline from the wheelhouse the README test command builds (`pip wheel -w .wheelhouse .`:
every dependency, llama-cpp-python from pip's cache of its build), so no board compiles llama.cpp."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from sshd_boards import boards_fixture, write_inventory
from tiny import TinySpec

from edgeprof.cli.main import cli

ROOT = Path(__file__).resolve().parent.parent
WHEELHOUSE = Path(os.environ.get("EDGEPROF_TEST_WHEELHOUSE", ROOT / ".wheelhouse"))
NAMES = ("pi5-a", "pi5-b", "orin-nx", "pi-badkey", "pi-nocc")
DEVICES = {"pi5-a": "pi5-4gb", "pi5-b": "pi5-8gb", "orin-nx": "orin-nx-16gb"}
SECRET = "hf_fleetTestSentinel1234567890"

fleet_boards = boards_fixture(names=NAMES, broken={"pi-badkey": "wrong_key"})

SUITE = """
description = "fleet test: one short cell"

[[scenario]]
name = "levels"
threads = [1]
prompt_tokens = [16]
gen_tokens = [8]
repetitions = 1
"""


@pytest.fixture(scope="module")
def wheelhouse() -> Path:
    if not list(WHEELHOUSE.glob("llama_cpp_python-*.whl")):
        pytest.fail(f"{WHEELHOUSE}: no llama-cpp-python wheel; build the wheelhouse first (README test command: "
                    f"pip wheel -w .wheelhouse .)")
    return WHEELHOUSE


def _project(tmp_path: Path, checkpoint: Path, boards) -> tuple[Path, Path]:
    (tmp_path / "fleet-suite.toml").write_text(SUITE)
    models = tmp_path / "models.toml"
    models.write_text(f'suite = "fleet-suite.toml"\n\n[[models]]\nname = "tiny"\nsource = "{checkpoint}"\n'
                      f'quant = ["Q8_0"]\n')
    extra = {name: {"edgeprof_device": device} for name, device in DEVICES.items()}
    extra["pi-nocc"] = {"edgeprof_cc": "no-such-cc"}
    inventory = write_inventory(tmp_path / "boards.ini", boards, extra)
    return models, inventory


def _stop_when_running(board, stopped: threading.Event) -> None:
    """Take the board off the network once its `edgeprof run` has its files (the run starts next)."""
    marker = board.home / "edgeprof" / "work" / "models.toml"
    deadline = time.monotonic() + 600
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)
    board.stop()
    stopped.set()


def _files_text(folder: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in folder.rglob("*") if p.is_file()
                   and p.suffix in ("", ".log", ".jsonl", ".json", ".md", ".html", ".toml", ".txt"))


def test_fleet_runs_every_board_survives_one_dropping_off_and_resumes(fleet_boards, wheelhouse, tiny_factory,
                                                                       tmp_path, monkeypatch):
    for key, value in fleet_boards.ansible_env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("HF_TOKEN", SECRET)
    checkpoint, _, _ = tiny_factory(TinySpec(tied=True))
    models, inventory = _project(tmp_path, checkpoint, fleet_boards)
    out = tmp_path / "fleet"
    args = ["fleet", str(inventory), str(models), "--out", str(out), "--wheelhouse", str(wheelhouse), "--offline",
            "--forward-hf-token", "--no-progress"]

    stopped = threading.Event()
    dropper = threading.Thread(target=_stop_when_running, args=(fleet_boards["pi5-b"], stopped), daemon=True)
    dropper.start()
    first = CliRunner().invoke(cli, args)
    assert stopped.is_set(), first.output
    assert first.exit_code == 1, first.output
    lines = {line.split()[0]: line for line in first.output.splitlines() if line.split()[:1] and
             line.split()[0] in NAMES}
    assert "ok" in lines["pi5-a"].split() and "ok" in lines["orin-nx"].split(), first.output
    assert "unreachable" in lines["pi5-b"] or "failed" in lines["pi5-b"], first.output
    assert "Permission denied" in lines["pi-badkey"], first.output
    assert "no C compiler" in lines["pi-nocc"] and "no-such-cc" in lines["pi-nocc"], first.output
    assert sorted(p.parent.name for p in out.glob("*/bench.jsonl")) == ["orin-nx-16gb", "pi5-4gb"]
    assert "pi5-a: edgeprof run finished" in first.output and "orin-nx: results fetched" in first.output
    assert (out / "logs" / "pi5-b.log").is_file() and (out / "logs" / "pi-nocc.log").is_file()

    fleet_boards["pi5-b"].start()  # back on the network: the rerun completes it and redoes nothing elsewhere
    second = CliRunner().invoke(cli, [*args, "--limit", "pi5-a,pi5-b,orin-nx"])
    assert second.exit_code == 0, second.output
    devices = sorted(p.parent.name for p in out.glob("*/bench.jsonl"))
    assert devices == ["orin-nx-16gb", "pi5-4gb", "pi5-8gb"]
    for device in devices:
        speed = [json.loads(line) for line in (out / device / "bench.jsonl").read_text().splitlines()]
        measured = sorted(r["model"]["level"] for r in speed if r["kind"] == "speed" and r["status"] == "ok")
        assert measured == ["F16", "Q8_0"], device  # each file once: the rerun measured nothing again
        assert speed[0]["system"]["device_name"] == device
    report = (out / "report" / "report.md").read_text()
    for device in devices:
        assert device in report
    assert SECRET not in _files_text(out)
    for board in fleet_boards:
        assert SECRET not in _files_text(board.home / "edgeprof" / "work")


def test_a_board_past_its_time_limit_is_reported_and_its_results_still_fetched(fleet_boards, wheelhouse,
                                                                                tiny_factory, tmp_path, monkeypatch):
    for key, value in fleet_boards.ansible_env().items():
        monkeypatch.setenv(key, value)
    checkpoint, _, _ = tiny_factory(TinySpec(tied=True))
    models, inventory = _project(tmp_path, checkpoint, fleet_boards)
    out = tmp_path / "fleet"
    board = fleet_boards["pi5-a"]
    (board.home / "edgeprof" / "results.tgz").unlink(missing_ok=True)  # only this run's fetch may bring one
    result = CliRunner().invoke(cli, ["fleet", str(inventory), str(models), "--out", str(out), "--limit", "pi5-a",
                                      "--wheelhouse", str(wheelhouse), "--offline", "--timeout", "2", "--no-progress"])
    assert result.exit_code == 1, result.output
    line = next(line for line in result.output.splitlines() if line.startswith("pi5-a "))
    assert "failed" in line and "passed its time limit (2 s) and was stopped" in line, result.output
    assert "edgeprof run finished" not in result.output
    assert (out / "incoming" / "pi5-a.tgz").is_file()  # packed and fetched after the limit, whatever it holds
    assert not _runs_of(board.user, seconds=15), "the board's edgeprof run outlived its time limit"


def _runs_of(user: str, seconds: float) -> list:
    """`edgeprof run` processes of ``user`` still alive after waiting up to ``seconds``."""
    import psutil

    deadline = time.monotonic() + seconds
    while True:
        alive = [p for p in psutil.process_iter(["username", "cmdline"])
                 if p.info["username"] == user and "run" in (p.info["cmdline"] or [])
                 and any(part.endswith("/edgeprof") for part in p.info["cmdline"] or [])]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.5)
