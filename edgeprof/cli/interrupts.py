"""SIGTERM and SIGHUP end a command the way Ctrl-C does. A service manager, `kill`, a closed terminal
or a dropped SSH session sends them; by default they would end edgeprof at once, leaving partial files,
orphaned child processes and no word. Here each becomes a KeyboardInterrupt raised in the main thread,
so the same path runs as for Ctrl-C: partial files removed on the way out, children stopped, the
message and resume hint printed, and the exit status 128 + the signal's number.

A signal that arrives while llama.cpp runs Python code (its log callback, called from inside a C call
such as a quantization or a model load) cannot be raised there: ctypes would print the exception and
drop it, and the C call would go on as if nothing happened. It is held until that C call returns
(a quantization then finishes its level, and the finished file is removed as a partial one).
"""

from __future__ import annotations

import signal

from edgeprof.llamacpp import held

HANDLED = ("SIGINT", "SIGTERM", "SIGHUP")


class Stopped(KeyboardInterrupt):
    """A KeyboardInterrupt caused by SIGTERM or SIGHUP; ``signum`` says which."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def install() -> None:
    """Handle SIGINT, SIGTERM and SIGHUP (those the system has) in the main thread, as above."""
    for name in HANDLED:
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), _on_signal)


def exit_code(exc: BaseException | None) -> int:
    """128 + the number of the signal that ended the command (130 for Ctrl-C), as shells report it."""
    return 128 + int(getattr(exc, "signum", signal.SIGINT))


def _on_signal(signum: int, frame) -> None:
    if held(signum, frame):  # inside llama.cpp's log callback: delivered again once its C call returns
        return
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Stopped(signum)
