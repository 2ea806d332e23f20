"""Landlock (Linux >= 5.13): an unprivileged process takes away its own rights, for good.

The ruleset is built in the parent (``ruleset``); the child only calls ``restrict_self`` between fork
and exec. Reading and executing stay allowed everywhere (the interpreter and its standard library
live wherever Python was installed); every write right is granted beneath the program's own
directory only. From ABI 4 on, TCP bind and connect are denied outright; from ABI 6 on, signals to
processes outside the sandbox and abstract Unix sockets are too. Constants from
``include/uapi/linux/landlock.h``; the three system calls have the same numbers on every Linux
architecture (444-446).
"""

from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass

CREATE_RULESET, ADD_RULE, RESTRICT_SELF = 444, 445, 446
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH = 1
PR_SET_NO_NEW_PRIVS = 38

EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
READ_ONLY = EXECUTE | READ_FILE | READ_DIR
# every filesystem right an ABI knows: ABI 2 adds REFER, 3 TRUNCATE, 5 IOCTL_DEV
FS_RIGHTS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 5: (1 << 16) - 1}
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def abi() -> int:
    """The kernel's Landlock ABI version; 0 where Landlock is missing or disabled."""
    version = _libc.syscall(CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(CREATE_RULESET_VERSION))
    return max(int(version), 0)


@dataclass(frozen=True)
class Ruleset:
    fd: int  # the ruleset's file descriptor, inherited by the child
    abi: int
    network: bool  # TCP bind/connect denied
    signals: bool  # signals outside the sandbox denied

    def close(self) -> None:
        os.close(self.fd)


def fs_rights(version: int) -> int:
    return FS_RIGHTS_BY_ABI[max(v for v in FS_RIGHTS_BY_ABI if v <= version)]


def ruleset(writable: str) -> Ruleset | str:
    """A ruleset granting read/execute everywhere and every right beneath ``writable``; or, where
    the kernel cannot, the reason why."""
    version = abi()
    if version < 1:
        return f"Landlock is not available in this kernel (errno {ctypes.get_errno()})"
    handled = fs_rights(version)
    attr = _RulesetAttr(handled, NET_BIND_TCP | NET_CONNECT_TCP if version >= 4 else 0,
                        SCOPE_SIGNAL | SCOPE_ABSTRACT_UNIX_SOCKET if version >= 6 else 0)
    size = 24 if version >= 6 else 16 if version >= 4 else 8
    fd = _libc.syscall(CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if fd < 0:
        return f"landlock_create_ruleset failed (errno {ctypes.get_errno()})"
    try:
        for path, rights in (("/", READ_ONLY), (writable, handled)):
            _add_path(int(fd), path, rights)
    except OSError as exc:
        os.close(fd)
        return f"landlock_add_rule failed ({exc})"
    os.set_inheritable(fd, False)
    return Ruleset(int(fd), version, network=version >= 4, signals=version >= 6)


def _add_path(fd: int, path: str, rights: int) -> None:
    parent = os.open(path, os.O_PATH | os.O_CLOEXEC)
    try:
        rule = _PathBeneath(rights, parent)
        if _libc.syscall(ADD_RULE, fd, RULE_PATH_BENEATH, ctypes.byref(rule), ctypes.c_uint32(0)) != 0:
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()), path)
    finally:
        os.close(parent)


def restrict_self(fd: int) -> bool:
    """In the child, before exec: no new privileges, then enforce the ruleset (irreversibly)."""
    if _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return False
    return _libc.syscall(RESTRICT_SELF, fd, ctypes.c_uint32(0)) == 0
