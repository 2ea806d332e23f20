"""Real SSH "boards" on this machine, for the `edgeprof fleet` tests (issue 20).

Each board is a Linux user of its own (``epb-<token>-<i>``, home under /home, owned by it) reached through
an sshd of its own that listens on 127.0.0.1 only, on a free port, with a host key of its own. One
controller key pair (ed25519, no passphrase) logs into all of them, and a ``known_hosts`` file lists every
board's host key as ``[127.0.0.1]:PORT ssh-ed25519 AAAA...``, so clients keep host-key checking ON. The
boards run the system Python, /usr/bin/python3 (Debian's, with venv).

Only /usr/sbin/sshd, ssh, ssh-keygen, useradd and userdel are used; nothing is installed. Without root
(no useradd) the tests are skipped; without sshd they fail with "sshd not installed: apt-get install
openssh-server".

Usage, in a test module::

    from sshd_boards import boards_fixture, write_inventory

    ssh_boards = boards_fixture(n=3)              # a fixture named ssh_boards (session-scoped)

    def test_something(ssh_boards, tmp_path):
        inventory = write_inventory(tmp_path / "hosts.ini", ssh_boards, {"pi5-a": {"threads": 4}})
        done = ssh_boards["pi5-a"].ssh("whoami")  # subprocess.CompletedProcess
        ssh_boards["pi5-b"].stop()                # drops off: its connections die, new ones are refused
        ...

or without pytest fixtures: ``with Boards(n=2) as boards: ...``. Teardown kills every sshd and every
process of the board users, removes the users with their homes, and the temporary folder; users left by a
run that was killed outright (SIGKILL) are swept by the next run (their owner pid is in the user's comment).
"""

from __future__ import annotations

import ast
import atexit
import contextlib
import ctypes
import functools
import os
import pwd
import random
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest

SSHD = "/usr/sbin/sshd"
SSH = shutil.which("ssh") or "/usr/bin/ssh"
SSH_KEYGEN = shutil.which("ssh-keygen") or "/usr/bin/ssh-keygen"
BOARD_PYTHON = "/usr/bin/python3"
HOST = "127.0.0.1"
SSHD_MISSING = "sshd not installed: apt-get install openssh-server"
NOT_ROOT = "not root: the SSH boards are Linux users of their own (useradd needs root)"
USER_PREFIX = "epb-"
OWNER_MARK = "edgeprof-test-board owner-pid="  # in each board user's comment (GECOS), for the stale sweep
TEMP_PREFIX = "epb-"  # /tmp/epb-<owner pid>-<random>/: short, for ControlPath sockets (about 100 chars at most)
PORTS = (20000, 32000)  # below Linux's ephemeral range (32768-60999), where outgoing connections take theirs
BROKEN_KINDS = ("wrong_key",)
START_TIMEOUT_S = 10.0


def require_prerequisites() -> None:
    """Skip when not root (useradd impossible); fail with one clear message when sshd is missing."""
    if os.geteuid() != 0:
        pytest.skip(NOT_ROOT)
    if not os.access(SSHD, os.X_OK):
        pytest.fail(SSHD_MISSING, pytrace=False)
    for tool in (SSH, SSH_KEYGEN):
        if not os.access(tool, os.X_OK):
            pytest.fail("ssh not installed: apt-get install openssh-client", pytrace=False)


def _run(argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Run a command that must succeed; the error names the command and what it printed."""
    done = subprocess.run(argv, capture_output=True, text=True, **kwargs)
    if done.returncode != 0:
        raise RuntimeError(f"{shlex.join(argv)} failed ({done.returncode}): {(done.stdout + done.stderr).strip()}")
    return done


@functools.cache
def _sshd_version() -> tuple[int, int]:
    done = subprocess.run([SSHD, "-V"], capture_output=True, text=True)
    found = re.search(r"OpenSSH_(\d+)\.(\d+)", done.stdout + done.stderr)
    return (int(found[1]), int(found[2])) if found else (0, 0)


def _make_key(path: Path, comment: str) -> Path:
    _run([SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)])
    return path


def _public_key(private: Path) -> str:
    """``ssh-ed25519 AAAA...`` (type and key, without the comment)."""
    return " ".join(private.with_name(private.name + ".pub").read_text().split()[:2])


def _write_file(path: Path, text: str, mode: int = 0o644) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.chmod(mode)
    tmp.replace(path)


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def _free_port(taken: set[int]) -> int:
    for _ in range(200):
        port = random.randint(*PORTS)
        if port not in taken and _port_is_free(port):
            return port
    raise RuntimeError(f"no free port found in {PORTS[0]}-{PORTS[1]} on {HOST}")


def _banner(port: int, timeout: float = 1.0) -> bytes:
    """The first line the server sends on HOST:port (b"" when it cannot be read)."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as sock:
            sock.sendall(b"SSH-2.0-edgeprof-probe\r\n")
            data = b""
            while b"\n" not in data and len(data) < 512:
                chunk = sock.recv(256)
                if not chunk:
                    break
                data += chunk
            return data.split(b"\n")[0]
    except OSError:
        return b""


def _die_with_parent() -> None:
    """In the sshd child: SIGKILL when the pytest process dies (the stale sweep covers what this misses)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _gone(proc: psutil.Process) -> bool:
    """Dead, or a zombie (which may stay one: pid 1 of a container need not reap orphans)."""
    try:
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.Error:
        return True


def _kill(processes: Iterable[psutil.Process], timeout: float = 5.0) -> None:
    processes = list(processes)
    for proc in processes:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    deadline = time.monotonic() + timeout
    while not all(_gone(p) for p in processes) and time.monotonic() < deadline:
        time.sleep(0.01)


def _user_processes(uid: int) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["uids", "status"]):
        uids = proc.info["uids"]
        if uids and uid in (uids.real, uids.effective) and proc.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(proc)
    return found


def _kill_user_processes(uid: int) -> None:
    for _ in range(5):  # again, for what forked meanwhile
        procs = _user_processes(uid)
        if not procs:
            return
        _kill(procs)


def _remove_user(user: str, home: Path | None) -> None:
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        entry = None
    if entry is not None:
        _kill_user_processes(entry.pw_uid)
        done = subprocess.run(["userdel", "-r", "-f", user], capture_output=True, text=True)
        with contextlib.suppress(KeyError):
            pwd.getpwnam(user)
            raise RuntimeError(f"userdel -r -f {user} failed ({done.returncode}): {done.stderr.strip()}")
    if home is not None and home.exists():
        shutil.rmtree(home, ignore_errors=True)


def sweep_stale() -> list[str]:
    """Remove what runs killed outright left: their sshd processes, board users and temp folders (only those
    whose owner pid is gone, so concurrent runs are left alone). Returns the users removed."""
    def dead(pid: str) -> bool:
        return int(pid) != os.getpid() and not psutil.pid_exists(int(pid))

    for proc in psutil.process_iter(["cmdline"]):
        cmd = proc.info["cmdline"] or []
        if cmd[:1] == [SSHD] and "-f" in cmd:
            found = re.search(rf"/{TEMP_PREFIX}(\d+)-", " ".join(cmd))
            if found and dead(found[1]):
                _kill([proc])
    removed = []
    for entry in pwd.getpwall():
        found = re.search(rf"{OWNER_MARK}(\d+)", entry.pw_gecos)
        if entry.pw_name.startswith(USER_PREFIX) and found and dead(found[1]):
            _remove_user(entry.pw_name, Path(entry.pw_dir))
            removed.append(entry.pw_name)
    for folder in Path("/tmp").glob(f"{TEMP_PREFIX}*-*"):
        found = re.fullmatch(rf"{TEMP_PREFIX}(\d+)-\w+", folder.name)
        if found and folder.is_dir() and dead(found[1]):
            shutil.rmtree(folder, ignore_errors=True)
    return removed


@dataclass
class Board:
    """One board: a user with its own sshd on 127.0.0.1:port. ``key`` and ``known_hosts`` are the client side."""

    name: str
    user: str
    home: Path
    port: int
    folder: Path  # this board's files in the Boards' temp folder: config, host key, log, pid file
    key: Path  # the controller's private key
    known_hosts: Path
    host: str = HOST
    process: subprocess.Popen | None = None
    broken: str | None = None  # None, or one of BROKEN_KINDS
    extra_sshd_options: tuple[str, ...] = ()
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    @property
    def config(self) -> Path:
        return self.folder / "sshd_config"

    @property
    def log(self) -> Path:
        return self.folder / "sshd.log"

    @property
    def host_key(self) -> Path:
        return self.folder / "ssh_host_ed25519_key"

    @property
    def pid_file(self) -> Path:
        return self.folder / "sshd.pid"

    @property
    def uid(self) -> int:
        return pwd.getpwnam(self.user).pw_uid

    def known_hosts_line(self) -> str:
        return f"[{self.host}]:{self.port} {_public_key(self.host_key)}"

    def write_config(self) -> None:
        lines = [
            f"Port {self.port}",
            f"ListenAddress {self.host}",
            "AddressFamily inet",
            f"HostKey {self.host_key}",
            f"PidFile {self.pid_file}",
            "AuthorizedKeysFile .ssh/authorized_keys",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "StrictModes yes",
            "PermitRootLogin no",
            f"AllowUsers {self.user}",
            "MaxStartups 100:30:200",
            "MaxSessions 100",
            "LoginGraceTime 30",
            "UseDNS no",
            "PrintMotd no",
            "PrintLastLog no",
            "X11Forwarding no",
            "LogLevel VERBOSE",
            "Subsystem sftp internal-sftp",
            *(["PerSourcePenalties no"] if _sshd_version() >= (9, 8) else []),  # else 127.0.0.1 gets shut out
            *self.extra_sshd_options,
        ]
        _write_file(self.config, "\n".join(lines) + "\n")

    def alive(self) -> bool:
        """Whether its sshd runs (a frozen one counts as alive: it runs, but answers nothing)."""
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = START_TIMEOUT_S) -> None:
        """Start its sshd (same port, same host key) and wait until it answers an SSH banner.
        Raises PortTaken when the port is in use, RuntimeError (with the log's tail) on any other failure."""
        with self._lock:
            if self.alive():
                return
            Path("/run/sshd").mkdir(mode=0o755, parents=True, exist_ok=True)  # sshd's privilege separation dir
            in_main = threading.current_thread() is threading.main_thread()  # the death signal follows the thread
            with open(self.log, "ab") as log:
                log.write(f"--- edgeprof test harness: starting sshd on {self.host}:{self.port}\n".encode())
                log.flush()
                self.process = subprocess.Popen(
                    [SSHD, "-D", "-e", "-f", str(self.config)], stdin=subprocess.DEVNULL, stdout=log,
                    stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_parent if in_main else None)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    tail = self.log_tail()
                    self.process = None
                    if "Address already in use" in tail:
                        raise PortTaken(f"{self.name}: port {self.port} is taken")
                    raise RuntimeError(f"{self.name}: sshd exited at start:\n{tail}")
                if _banner(self.port).startswith(b"SSH-"):
                    return
                time.sleep(0.02)
            self._kill_sshd()
            raise RuntimeError(f"{self.name}: sshd did not answer on {self.host}:{self.port} in {timeout:.0f} s:\n"
                               f"{self.log_tail()}")

    def stop(self, keep_user_processes: bool = False) -> None:
        """Drop off the network: kill its sshd and every connection it serves, so connections (ControlMaster
        ones too) drop and new ones are refused. By default every process of the board's user dies too, like
        a board losing power; keep_user_processes=True leaves the user's commands running (orphaned), like a
        board that only lost its network. Safe to call on a stopped board."""
        with self._lock:
            self._kill_sshd(keep_user_processes)
            if not keep_user_processes:
                with contextlib.suppress(KeyError):
                    _kill_user_processes(self.uid)

    def _kill_sshd(self, keep_user_processes: bool = False) -> None:
        proc, self.process = self.process, None
        if proc is None:
            return
        if proc.poll() is None:
            try:
                listener = psutil.Process(proc.pid)
                listener.suspend()  # no new connections forked while the tree is read
                tree = listener.children(recursive=True)
            except psutil.Error:
                tree = []
            if keep_user_processes:
                kept = [p for p in tree if not _is_sshd(p)]
                tree = [p for p in tree if _is_sshd(p)]
                for other in kept:  # in case freeze() stopped them
                    with contextlib.suppress(psutil.Error):
                        other.resume()
            _kill(tree)
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        proc.wait(timeout=10)
        self.pid_file.unlink(missing_ok=True)

    def freeze(self) -> None:
        """Hang, unlike stop(): its sshd and sessions are stopped (SIGSTOP), so TCP connects still succeed but
        nothing answers (clients wait until their ConnectTimeout / ServerAliveInterval). thaw() undoes it."""
        self._signal_tree(signal.SIGSTOP)

    def thaw(self) -> None:
        self._signal_tree(signal.SIGCONT)

    def _signal_tree(self, sig: int) -> None:
        if not self.alive():
            raise RuntimeError(f"{self.name}: its sshd is not running")
        listener = psutil.Process(self.process.pid)
        for proc in [listener, *listener.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                proc.send_signal(sig)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def ssh_args(self, *options: str) -> list[str]:
        """``ssh`` with the controller key and host-key checking on, up to user@host: append the command."""
        return [SSH, *ssh_base_args(self.key, self.known_hosts), *options, "-p", str(self.port),
                f"{self.user}@{self.host}"]

    def ssh(self, command: str, *options: str, timeout: float = 30, check: bool = False,
            input: str | None = None) -> subprocess.CompletedProcess:
        """Run a shell command on the board (text output captured)."""
        return subprocess.run([*self.ssh_args(*options), command], capture_output=True, text=True, timeout=timeout,
                              check=check, input=input, stdin=None if input is not None else subprocess.DEVNULL)


class PortTaken(RuntimeError):
    pass


def _is_sshd(proc: psutil.Process) -> bool:
    try:
        return proc.name().startswith("sshd")
    except psutil.Error:
        return False


def ssh_base_args(key: Path, known_hosts: Path, connect_timeout: int = 5) -> list[str]:
    """ssh options for the boards: this key only, no ssh_config, strict host-key checking against known_hosts,
    no prompts."""
    return ["-F", "none", "-i", str(key), "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
            "-o", f"UserKnownHostsFile={known_hosts}", "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", f"ConnectTimeout={connect_timeout}",
            "-o", "LogLevel=ERROR"]


def ssh_common_args(key: Path, known_hosts: Path) -> str:
    """The ``ansible_ssh_common_args`` value (Ansible adds the key, port, user and timeouts itself)."""
    return f"-o UserKnownHostsFile={known_hosts} -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes"


def _ini_value(value: Any) -> str:
    """A value for an INI inventory host line: Ansible shlex-splits the line, then literal_evals each value."""
    if isinstance(value, str):
        try:
            ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return shlex.quote(value)  # read back as this very string
        return shlex.quote(repr(value))  # "4", "True", "[1]": quoted, so they stay strings
    if value is None or isinstance(value, bool | int | float | list | tuple | dict):
        return shlex.quote(repr(value))
    raise TypeError(f"inventory values are str, int, float, bool, None, list or dict, not {type(value).__name__}")


def write_inventory(path: Path, boards: Iterable[Board], extra_vars_per_board: Mapping[str, Mapping[str, Any]]
                    | None = None, *, group: str = "boards") -> Path:
    """Write an INI inventory: one line per board in [group], with its connection variables (host-key checking
    on, against the boards' known_hosts; the system Python) and its extra variables. Returns path."""
    boards = list(boards)
    extra = dict(extra_vars_per_board or {})
    unknown = set(extra) - {b.name for b in boards}
    if unknown:
        raise KeyError(f"extra variables for boards not in the inventory: {sorted(unknown)}")
    lines = [f"[{group}]"]
    for board in boards:
        variables: dict[str, Any] = {
            "ansible_host": board.host, "ansible_port": board.port, "ansible_user": board.user,
            "ansible_ssh_private_key_file": str(board.key),
            "ansible_ssh_common_args": ssh_common_args(board.key, board.known_hosts),
            "ansible_python_interpreter": BOARD_PYTHON, **extra.get(board.name, {})}
        for name in variables:
            if not re.fullmatch(r"[A-Za-z_]\w*", name):
                raise ValueError(f"{board.name}: {name!r} is not a variable name")
        lines.append(" ".join([board.name, *(f"{k}={_ini_value(v)}" for k, v in variables.items())]))
    path = Path(path)
    path.write_text("\n".join(lines) + "\n")
    return path


def default_names(n: int) -> list[str]:
    """pi5-a, pi5-b, ..., pi5-z, pi5-aa, ..."""
    names = []
    for i in range(n):
        suffix = ""
        i += 1
        while i:
            i, rest = divmod(i - 1, 26)
            suffix = chr(ord("a") + rest) + suffix
        names.append(f"pi5-{suffix}")
    return names


class Boards:
    """n SSH boards, a controller key and their known_hosts; a context manager (``with Boards(3) as boards``).

    Index by position or name (``boards[0]``, ``boards["pi5-a"]``), iterate, len(). ``broken`` maps board
    names to a kind of breakage (BROKEN_KINDS), e.g. ``{"pi5-c": "wrong_key"}``."""

    def __init__(self, n: int = 3, *, names: Iterable[str] | None = None, broken: Mapping[str, str] | None = None):
        self.names = list(names) if names is not None else default_names(n)
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"board names repeat: {self.names}")
        self.initial_broken = dict(broken or {})
        for name, kind in self.initial_broken.items():
            if name not in self.names:
                raise KeyError(f"broken board {name!r} is not one of {self.names}")
            _check_kind(kind)
        self.boards: list[Board] = []
        self.root: Path | None = None
        self.token = secrets.token_hex(3)
        self._counter = 0
        self._closed = False

    # -- the client side
    @property
    def key(self) -> Path:
        """The controller's private key (its public half is ``key`` + ``.pub``)."""
        return self._root / "id_ed25519"

    @property
    def stranger_key(self) -> Path:
        """A key no board accepts: what a wrong_key board's authorized_keys holds."""
        return self._root / "stranger_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self._root / "known_hosts"

    @property
    def control_dir(self) -> Path:
        """A short folder for ssh ControlPath sockets (ANSIBLE_SSH_CONTROL_PATH_DIR)."""
        return self._root / "cp"

    def ssh_base_args(self, connect_timeout: int = 5) -> list[str]:
        return ssh_base_args(self.key, self.known_hosts, connect_timeout)

    def ansible_env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """Environment for ansible / ansible-runner: its state in this temp folder (nothing in ~/.ansible),
        short ControlPath dir, no ansible.cfg from the working directory, no colour."""
        env = dict(os.environ if base is None else base)
        ansible = self._root / "ansible"
        for sub in ("home", "tmp"):
            (ansible / sub).mkdir(parents=True, exist_ok=True)
        self.control_dir.mkdir(mode=0o700, exist_ok=True)
        (ansible / "ansible.cfg").write_text("[defaults]\n")  # found before any ./ansible.cfg or ~/.ansible.cfg
        env.update(ANSIBLE_HOME=str(ansible / "home"), ANSIBLE_LOCAL_TEMP=str(ansible / "tmp"),
                   ANSIBLE_SSH_CONTROL_PATH_DIR=str(self.control_dir), ANSIBLE_CONFIG=str(ansible / "ansible.cfg"),
                   ANSIBLE_HOST_KEY_CHECKING="True", ANSIBLE_RETRY_FILES_ENABLED="False", ANSIBLE_NOCOLOR="1",
                   ANSIBLE_FORCE_COLOR="0", ANSIBLE_DEPRECATION_WARNINGS="False")
        return env

    def write_inventory(self, path: Path, extra_vars_per_board: Mapping[str, Mapping[str, Any]] | None = None,
                        boards: Iterable[Board] | None = None, *, group: str = "boards") -> Path:
        return write_inventory(path, self.boards if boards is None else boards, extra_vars_per_board, group=group)

    # -- the collection
    def __iter__(self) -> Iterator[Board]:
        return iter(self.boards)

    def __len__(self) -> int:
        return len(self.boards)

    def __getitem__(self, which: int | str) -> Board:
        if isinstance(which, int):
            return self.boards[which]
        for board in self.boards:
            if board.name == which:
                return board
        raise KeyError(which)

    @property
    def _root(self) -> Path:
        if self.root is None:
            raise RuntimeError("the boards are not started: use `with Boards(...) as boards` or start()")
        return self.root

    # -- life cycle
    def __enter__(self) -> Boards:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> Boards:
        require_prerequisites()
        if self.root is not None:
            return self
        sweep_stale()
        atexit.register(self.close)
        self.root = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-", dir="/tmp"))
        try:
            _make_key(self.key, "edgeprof-test-controller")
            _make_key(self.stranger_key, "edgeprof-test-stranger")
            self.known_hosts.touch()
            for name in self.names:
                self._create(name, self.initial_broken.get(name))
            self._write_known_hosts()
        except BaseException:
            self.close()
            raise
        return self

    def add(self, name: str | None = None, *, broken: str | None = None) -> Board:
        """One more board (removed by remove() or at teardown)."""
        name = name or f"extra-{self._counter}"
        if any(b.name == name for b in self.boards):
            raise ValueError(f"a board named {name!r} exists")
        board = self._create(name, broken)
        self._write_known_hosts()
        return board

    def remove(self, board: Board) -> None:
        """Stop a board, remove its user and home, forget its host key."""
        self.boards.remove(board)
        try:
            board.stop()
        finally:
            _remove_user(board.user, board.home)
            shutil.rmtree(board.folder, ignore_errors=True)
            self._write_known_hosts()

    def break_board(self, board: Board, how: str = "wrong_key") -> None:
        """wrong_key: its authorized_keys holds another key, so the controller's login is refused."""
        _check_kind(how)
        self._authorize(board, self.stranger_key)
        board.broken = how

    def repair(self, board: Board) -> None:
        self._authorize(board, self.key)
        board.broken = None

    def reset(self) -> None:
        """Back to how they were made: extra boards removed, stopped or frozen boards restarted, every board
        broken as asked at creation and no other way."""
        for board in [b for b in self.boards if b.name not in self.names]:
            self.remove(board)
        for board in self.boards:
            wanted = self.initial_broken.get(board.name)
            if board.broken != wanted and wanted is None:
                self.repair(board)
            elif board.broken != wanted:
                self.break_board(board, wanted)
            if board.alive() and not _banner(board.port).startswith(b"SSH-"):
                board.thaw()
            if not board.alive() or not _banner(board.port).startswith(b"SSH-"):
                board.stop()
                board.start()

    def close(self) -> None:
        """Kill every sshd and process of the board users, remove the users, their homes and the temp folder.
        Safe to call twice, and after boards were stopped; raises (after cleaning all it can) on failure."""
        if self._closed:
            return
        self._closed = True
        errors = []
        for board in reversed(self.boards):
            for step in (board.stop, lambda b=board: _remove_user(b.user, b.home)):
                try:
                    step()
                except Exception as err:  # noqa: BLE001 - every board is cleaned whatever happened to one
                    errors.append(f"{board.name}: {err}")
        self.boards.clear()
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
        with contextlib.suppress(Exception):
            atexit.unregister(self.close)
        if errors:
            raise RuntimeError("SSH boards teardown: " + "; ".join(errors))

    # -- making one board
    def _create(self, name: str, broken: str | None) -> Board:
        if broken is not None:
            _check_kind(broken)
        user = f"{USER_PREFIX}{self.token}-{self._counter}"
        self._counter += 1
        home = Path("/home") / user
        folder = self._root / name
        folder.mkdir()
        Path("/home").mkdir(mode=0o755, exist_ok=True)
        board = Board(name=name, user=user, home=home, port=0, folder=folder, key=self.key,
                      known_hosts=self.known_hosts)
        self.boards.append(board)  # from here on, close() removes it
        _run(["useradd", "-m", "-d", str(home), "-s", "/bin/bash", "-p", "*",  # "*": no password, not locked
              "-c", f"{OWNER_MARK}{os.getpid()}", user])
        if broken is None:
            self._authorize(board, self.key)
        else:
            self.break_board(board, broken)
        _make_key(board.host_key, f"edgeprof-test-board-{name}")
        taken = {b.port for b in self.boards}
        for _ in range(20):
            board.port = _free_port(taken)
            board.write_config()
            try:
                board.start()
                return board
            except PortTaken:
                taken.add(board.port)
        raise RuntimeError(f"{name}: no port could be bound after 20 tries")

    def _authorize(self, board: Board, key: Path) -> None:
        entry = pwd.getpwnam(board.user)
        ssh_dir = board.home / ".ssh"
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        ssh_dir.chmod(0o700)
        os.chown(ssh_dir, entry.pw_uid, entry.pw_gid)
        keys = ssh_dir / "authorized_keys"
        _write_file(keys, _public_key(key) + "\n", 0o600)
        os.chown(keys, entry.pw_uid, entry.pw_gid)

    def _write_known_hosts(self) -> None:
        _write_file(self.known_hosts, "".join(b.known_hosts_line() + "\n" for b in self.boards), 0o644)


def _check_kind(kind: str) -> None:
    if kind not in BROKEN_KINDS:
        raise ValueError(f"unknown breakage {kind!r}: one of {BROKEN_KINDS}")


_shared: dict[tuple, Boards] = {}


def boards_fixture(n: int = 3, *, names: Iterable[str] | None = None, broken: Mapping[str, str] | None = None,
                   scope: str = "session"):
    """A pytest fixture that gives a Boards; assign it to the fixture's name in a test module:
    ``ssh_boards = boards_fixture(n=3)``.

    The boards are made once per pytest session for each distinct (names, broken) and removed at its end.
    Each time the fixture is set up (once per `scope`: "function" means before every test) they are reset():
    extra boards removed, stopped ones restarted, breakage back to `broken`."""
    names = tuple(names) if names is not None else tuple(default_names(n))
    broken = dict(broken or {})
    config_key = (names, tuple(sorted(broken.items())))

    @pytest.fixture(scope=scope)
    def fixture(request) -> Iterator[Boards]:
        boards = _shared.get(config_key)
        if boards is None or boards._closed:
            boards = Boards(names=names, broken=broken).start()
            _shared[config_key] = boards
            request.config.add_cleanup(boards.close)
        else:
            boards.reset()
        yield boards

    return fixture
