"""The SSH boards harness (tests/sshd_boards.py) that the `edgeprof fleet` tests drive (issue 20): real sshd
servers on 127.0.0.1, one Linux user each, reached with host-key checking on, by ssh and by Ansible.

Select them with ``pytest tests/test_sshd_boards.py`` (they need root and openssh-server).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest
import sshd_boards
from sshd_boards import HOST, Boards, boards_fixture, require_prerequisites, sweep_stale, write_inventory

BIN = Path(sys.executable).parent
ssh_boards = boards_fixture(n=3, scope="function")  # made once per session, reset before each test


def user_exists(user: str) -> bool:
    return subprocess.run(["id", user], capture_output=True).returncode == 0


def plain_ssh(board, command: str, known_hosts: Path | None = None, timeout: int = 5) -> subprocess.CompletedProcess:
    """The command line a person would type (host-key checking on, no prompts)."""
    argv = ["ssh", "-i", str(board.key), "-o", f"UserKnownHostsFile={known_hosts or board.known_hosts}",
            "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", f"ConnectTimeout={timeout}",
            "-p", str(board.port), f"{board.user}@{HOST}", command]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)


def test_three_boards_answer_as_their_own_users_with_host_key_checking_on(ssh_boards):
    assert [b.name for b in ssh_boards] == ["pi5-a", "pi5-b", "pi5-c"]
    assert len({b.user for b in ssh_boards}) == len({b.port for b in ssh_boards}) == 3
    known = ssh_boards.known_hosts.read_text().splitlines()
    assert sorted(known) == sorted(f"[127.0.0.1]:{b.port} {sshd_boards._public_key(b.host_key)}" for b in ssh_boards)
    assert all(re.fullmatch(r"\[127\.0\.0\.1\]:\d+ ssh-ed25519 AAAA\S+", line) for line in known)
    for board in ssh_boards:
        done = plain_ssh(board, 'whoami; echo $HOME; python3 -c "import sys; print(sys.executable, sys.version)"')
        assert done.returncode == 0, done.stderr
        user, home, python = done.stdout.splitlines()
        assert (user, home) == (board.user, str(board.home))
        assert python.startswith("/usr/bin/python3 3.")
        assert board.alive()
        assert board.home.stat().st_uid == board.uid
        listening = [c for c in psutil.Process(board.process.pid).net_connections("inet")
                     if c.status == psutil.CONN_LISTEN]
        assert [(c.laddr.ip, c.laddr.port) for c in listening] == [(HOST, board.port)]  # loopback only


def test_host_key_checking_is_really_on(ssh_boards, tmp_path):
    a, b = ssh_boards[0], ssh_boards[1]
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    done = plain_ssh(a, "true", known_hosts=empty)
    assert done.returncode == 255 and "Host key verification failed" in done.stderr
    impostor = tmp_path / "impostor_known_hosts"  # a's port with b's host key
    impostor.write_text(f"[127.0.0.1]:{a.port} {b.known_hosts_line().split(' ', 1)[1]}\n")
    done = plain_ssh(a, "true", known_hosts=impostor)
    assert done.returncode == 255 and "REMOTE HOST IDENTIFICATION HAS CHANGED" in done.stderr


def test_each_user_makes_a_venv_in_its_home(ssh_boards):
    """--without-pip keeps it quick (ensurepip takes ~6 s a board); ensurepip's presence (python3-venv) is
    checked apart."""
    command = ('python3 -m venv --without-pip "$HOME/venv" && "$HOME/venv/bin/python" -c "import sys; '
               'print(sys.prefix, sys.base_prefix)" && python3 -c "import ensurepip; print(ensurepip.version())"')
    running = [subprocess.Popen([*b.ssh_args(), command], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                stdin=subprocess.DEVNULL) for b in ssh_boards]
    for board, proc in zip(ssh_boards, running):
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, f"{board.name}: {err}"
        prefixes, pip = out.splitlines()
        assert prefixes == f"{board.home}/venv /usr"
        assert re.fullmatch(r"\d+\.\d+(\.\d+)?", pip)
        assert (board.home / "venv").stat().st_uid == board.uid


def test_a_stopped_board_drops_off_and_start_brings_it_back(ssh_boards):
    board, others = ssh_boards[1], [ssh_boards[0], ssh_boards[2]]
    control = ssh_boards.control_dir / "m"
    ssh_boards.control_dir.mkdir(exist_ok=True)
    master = subprocess.run([*board.ssh_args("-M", "-S", str(control), "-o", "ControlPersist=30", "-f", "-N")],
                            capture_output=True, text=True, timeout=15, stdin=subprocess.DEVNULL)
    assert master.returncode == 0, master.stderr
    started = board.ssh("sleep 300 >/dev/null 2>&1 </dev/null & echo started", "-S", str(control))
    assert started.stdout.strip() == "started", started.stderr
    try:
        started = time.monotonic()
        board.stop()
        assert not board.alive()
        refused = plain_ssh(board, "true", timeout=3)
        assert refused.returncode == 255 and "Connection refused" in refused.stderr
        assert time.monotonic() - started < 5
        deadline = time.monotonic() + 5  # the existing (multiplexed) connection dropped too
        while subprocess.run(["ssh", "-S", str(control), "-O", "check", "x"], capture_output=True).returncode == 0:
            assert time.monotonic() < deadline, "the ControlMaster connection survived stop()"
            time.sleep(0.05)
        assert not [p for p in sshd_boards._user_processes(board.uid)]  # the user's sleep died too
        for other in others:
            assert plain_ssh(other, "whoami").stdout.strip() == other.user
        board.stop()  # a second stop is harmless
        port = board.port
        board.start()
        assert board.alive() and board.port == port
        assert plain_ssh(board, "whoami").stdout.strip() == board.user  # same host key: known_hosts still holds
    finally:
        subprocess.run(["ssh", "-S", str(control), "-O", "exit", "x"], capture_output=True)


def test_stop_can_leave_the_users_processes_running(ssh_boards):
    board = ssh_boards[2]
    done = board.ssh("nohup sleep 300 >/dev/null 2>&1 </dev/null & echo $!")
    pid = int(done.stdout)
    board.stop(keep_user_processes=True)
    assert psutil.Process(pid).is_running() and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    board.stop()
    assert not sshd_boards._user_processes(board.uid)


def test_a_frozen_board_accepts_tcp_but_times_out(ssh_boards):
    board = ssh_boards[0]
    board.freeze()
    started = time.monotonic()
    done = plain_ssh(board, "true", timeout=1)
    assert done.returncode == 255 and "timed out" in done.stderr
    assert time.monotonic() - started < 5
    board.thaw()
    assert plain_ssh(board, "true").returncode == 0


def test_a_wrong_key_board_refuses_login(ssh_boards):
    wrong = ssh_boards.add("pi5-wrong", broken="wrong_key")
    try:
        done = plain_ssh(wrong, "true")
        assert done.returncode == 255 and "Permission denied (publickey)" in done.stderr  # host key was fine
        assert ssh_boards.known_hosts.read_text().count(f"]:{wrong.port} ") == 1
        ssh_boards.repair(wrong)
        assert plain_ssh(wrong, "whoami").stdout.strip() == wrong.user
        ssh_boards.break_board(ssh_boards[0], "wrong_key")  # an existing board, broken in place
        assert plain_ssh(ssh_boards[0], "true").returncode == 255
    finally:
        ssh_boards.remove(wrong)
    assert not user_exists(wrong.user) and not wrong.home.exists()
    assert f"]:{wrong.port} " not in ssh_boards.known_hosts.read_text()
    ssh_boards.reset()  # what the fixture does before each test
    assert plain_ssh(ssh_boards[0], "true").returncode == 0


def test_ansible_pings_every_board(ssh_boards, tmp_path):
    ansible = BIN / "ansible"
    assert ansible.exists(), f"ansible-core is not installed in {BIN.parent}"
    extra = {"pi5-a": {"threads": 4, "label": "4", "words": "a b", "quote": "it's", "levels": ["Q4_0", 8],
                       "flags": {"on": True}}}
    inventory = write_inventory(tmp_path / "hosts.ini", ssh_boards, extra)
    assert "ansible_ssh_common_args='-o UserKnownHostsFile=" in inventory.read_text()
    env = ssh_boards.ansible_env()
    read = subprocess.run([str(BIN / "python"), "-c", textwrap.dedent("""
        import json, sys
        from ansible.inventory.manager import InventoryManager
        from ansible.parsing.dataloader import DataLoader
        hosts = InventoryManager(loader=DataLoader(), sources=[sys.argv[1]]).get_hosts()
        print(json.dumps({h.name: {k: h.vars[k] for k in h.vars if not k.startswith("inventory_")} for h in hosts}))
        """), str(inventory)], capture_output=True, text=True, env=env, timeout=60)
    assert read.returncode == 0, read.stderr
    variables = json.loads(read.stdout)
    assert {k: variables["pi5-a"][k] for k in extra["pi5-a"]} == extra["pi5-a"]  # types survive the INI
    for board in ssh_boards:
        assert variables[board.name]["ansible_port"] == board.port
        assert variables[board.name]["ansible_user"] == board.user
        assert variables[board.name]["ansible_python_interpreter"] == "/usr/bin/python3"

    done = subprocess.run([str(ansible), "all", "-i", str(inventory), "-m", "ansible.builtin.ping", "-o"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    answers = {line.split(" | ")[0]: line for line in done.stdout.splitlines() if " | " in line}
    assert sorted(answers) == ["pi5-a", "pi5-b", "pi5-c"]
    assert all('SUCCESS => {"changed": false,"ping": "pong"}' in line for line in answers.values()), done.stdout
    assert str(ssh_boards.control_dir) in env["ANSIBLE_SSH_CONTROL_PATH_DIR"]
    assert len(str(ssh_boards.control_dir)) < 50  # room for the socket names under the ~100-char limit


def test_a_taken_port_is_retried(monkeypatch):
    with socket.socket() as blocker:
        blocker.bind((HOST, 0))
        blocker.listen()
        taken, real = blocker.getsockname()[1], sshd_boards._free_port
        offered = iter([taken])  # the first port offered is taken by the time sshd binds it
        monkeypatch.setattr(sshd_boards, "_free_port", lambda busy: next(offered, None) or real(busy))
        with Boards(names=["retry"]) as boards:
            assert boards[0].port != taken
            assert "Address already in use" in boards[0].log.read_text()
            assert plain_ssh(boards[0], "whoami").stdout.strip() == boards[0].user


def test_teardown_removes_users_homes_and_servers_even_after_a_failure():
    with pytest.raises(ZeroDivisionError):
        with Boards(2, names=["x", "y"]) as boards:
            made = [(b.user, b.home, b.process.pid, b.port) for b in boards]
            root = boards.root
            boards["x"].stop()  # one already stopped
            assert all(user_exists(user) for user, *_ in made)
            raise ZeroDivisionError("a test failing inside")
    for user, home, pid, port in made:
        assert not user_exists(user) and not home.exists()
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        assert sshd_boards._port_is_free(port)
    assert not root.exists()
    boards.close()  # twice is harmless


def test_the_next_run_sweeps_what_a_killed_run_left(tmp_path):
    script = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from sshd_boards import Boards
        boards = Boards(names=["orphan"]).start()
        print(boards[0].user, boards[0].process.pid, boards.root, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == -signal.SIGKILL, done.stderr
    user, pid, root = done.stdout.split()
    assert user_exists(user) and Path(root).exists()
    deadline = time.monotonic() + 5  # its sshd died with it (PR_SET_PDEATHSIG)
    while psutil.pid_exists(int(pid)) and not sshd_boards._gone(psutil.Process(int(pid))):
        assert time.monotonic() < deadline, "the orphan's sshd outlived it"
        time.sleep(0.05)
    assert user in sweep_stale()
    assert not user_exists(user) and not Path("/home", user).exists() and not Path(root).exists()


def test_without_sshd_it_fails_with_one_clear_message(monkeypatch):
    monkeypatch.setattr(sshd_boards, "SSHD", "/nonexistent/sshd")
    with pytest.raises(pytest.fail.Exception, match=r"^sshd not installed: apt-get install openssh-server$"):
        require_prerequisites()
    before = {u for u in os.listdir("/home") if u.startswith("epb-")}
    with pytest.raises(pytest.fail.Exception, match="sshd not installed"):
        Boards(1).start()
    assert {u for u in os.listdir("/home") if u.startswith("epb-")} == before  # nothing made


def test_without_root_it_skips(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(pytest.skip.Exception, match="not root"):
        require_prerequisites()
