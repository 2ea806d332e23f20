"""The range every numeric setting must fall in, matching what llama.cpp and the OS accept.

A value is checked where it enters (a command-line option, a suite file), never deeper: llama.cpp's
32-bit fields wrap silently (``--ctx 4294967552`` would run with 256), Python timers refuse
``inf`` in a background thread, and ``nan`` slips through any check written as ``<``/``>``. So each range
takes finite values only and names its reason; one ``Range`` per kind of setting, used by every
command that has one."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field

from edgeprof.errors import fail
from edgeprof.paths import all_cores

INT32_MAX = 2**31 - 1  # llama.cpp's token counts and positions (llama_pos), n_gpu_layers, n_threads
UINT32_MAX = 2**32 - 1  # llama.cpp's sampler seeds
GGML_MAX_N_THREADS = 512  # ggml.h: the most threads one ggml threadpool takes
THREADS_PER_CORE = 4  # beyond 4 threads per core only the scheduler's overhead is measured


@dataclass(frozen=True)
class Range:
    low: float = field(metadata={"help": "the smallest value allowed"})
    high: float = field(metadata={"help": "the largest value allowed"})
    integer: bool = field(default=True, metadata={"help": "whole numbers only"})
    low_open: bool = field(default=False, metadata={"help": "low itself is not allowed (a value above it is)"})
    why: str = field(default="", metadata={"help": "where the limits come from, shown in the message"})
    unit: str = field(default="", metadata={"help": "shown after the numbers"})

    def allowed(self) -> str:
        """'a whole number from 1 to 8 (why)': what the error message offers instead."""
        kind = "a whole number" if self.integer else "a number"
        unit = f" {self.unit}" if self.unit else ""
        why = f" ({self.why})" if self.why else ""
        if math.isinf(self.high):
            return f"{kind} {'above' if self.low_open else 'of at least'} {_show(self.low)}{unit}{why}"
        if self.low_open:
            return f"{kind} above {_show(self.low)} and at most {_show(self.high)}{unit}{why}"
        return f"{kind} from {_show(self.low)} to {_show(self.high)}{unit}{why}"

    def parse(self, what: str, text: object) -> int | float:
        """``text`` (a string from the command line, or a number from a file) as a checked number."""
        if isinstance(text, bool):
            raise fail("not_a_number", option=what, value=text, allowed=self.allowed())
        if isinstance(text, (int, float)):
            return self.check(what, text)
        raw = str(text).strip()
        try:
            value: int | float = int(raw, 10) if self.integer else float(raw)
        except ValueError:
            raise fail("not_a_number", option=what, value=repr(str(text)), allowed=self.allowed()) from None
        return self.check(what, value, shown=raw)

    def check(self, what: str, value: int | float, shown: str | None = None) -> int | float:
        """``value`` when it is in range; else one line naming ``what`` (an option, or a file's key) and
        the value (``shown``: as the user wrote it)."""
        shown = shown if shown is not None else str(value)
        if isinstance(value, float) and not math.isfinite(value):
            raise fail("not_finite", option=what, value=shown, allowed=self.allowed())
        if self.integer and not (isinstance(value, int) or float(value).is_integer()):
            raise fail("not_a_number", option=what, value=shown, allowed=self.allowed())
        too_low = value <= self.low if self.low_open else value < self.low
        if too_low or value > self.high:
            raise fail("out_of_range", option=what, value=shown, allowed=self.allowed())
        return int(value) if self.integer else float(value)


def _show(number: float) -> str:
    return f"{number:g}" if isinstance(number, float) and not number.is_integer() else f"{int(number)}"


_LLAMA_INT = "llama.cpp's 32-bit token counts"
TOKENS = Range(0, INT32_MAX, why=_LLAMA_INT)  # prompt, generation and depth lengths
CONTEXT = Range(16, INT32_MAX, why=_LLAMA_INT)  # --ctx, --ppl-ctx
TASK_CONTEXT = Range(64, INT32_MAX, why=_LLAMA_INT)
BATCH = Range(1, INT32_MAX, why=_LLAMA_INT)  # n_batch, n_ubatch: llama.cpp refuses 0
SEQUENCES = Range(1, 256, why="llama.cpp's LLAMA_MAX_SEQ")  # --parallel
GPU_LAYERS = Range(0, INT32_MAX, why="llama.cpp's 32-bit n_gpu_layers; all or -1 for every layer")
SEED = Range(0, UINT32_MAX, why="llama.cpp's 32-bit seeds")
REPETITIONS = Range(1, INT32_MAX)
COUNT = Range(1, INT32_MAX)  # --limit, --ppl-chunks
SHOTS = Range(0, INT32_MAX)
TEMPERATURE = Range(0.0, math.inf, integer=False, why="0 = greedy")
# a timer longer than the OS waits refuses to start (threading.TIMEOUT_MAX)
SECONDS = Range(0.0, math.floor(threading.TIMEOUT_MAX), integer=False, low_open=True, unit="seconds",
                why="the longest wait the OS timers take")
INTERVAL = Range(0.005, 60.0, integer=False, unit="seconds", why="a slower period reads little more than the "
                                                                  "phase boundaries")
IDLE_SECONDS = Range(0.0, 600.0, integer=False, unit="seconds", why="0 = no idle reading")
CELSIUS = Range(0.0, 150.0, integer=False, low_open=True, unit="degrees C", why="no chip runs hotter")
KLD = Range(0.0, math.inf, integer=False)
ACCURACY = Range(0.0, 1.0, integer=False, why="a fraction of questions")


def threads() -> Range:
    """CPU threads: 1 to 4 x the cores this process may use, and never above ggml's own limit."""
    cores = all_cores()
    high = min(THREADS_PER_CORE * cores, GGML_MAX_N_THREADS)
    why = (f"{THREADS_PER_CORE} x the {cores} cores this process may use" if high < GGML_MAX_N_THREADS
           else f"ggml's limit; {cores} cores here")
    return Range(1, high, why=why)
