"""What several commands share: checked path arguments, list options, and the option definitions used
by more than one command (so each spelling and help text is written once)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from edgeprof import limits
from edgeprof.errors import fail
from edgeprof.limits import Range


class Number(click.ParamType):
    """A number within a ``limits.Range`` (or a function giving one, e.g. ``limits.threads``): finite,
    whole where the range says so, in range; otherwise one line naming the option, the value and
    what is allowed, exit code 1 (click's own number types print usage text, exit 2, take ``nan``)."""

    def __init__(self, allowed: Range | Callable[[], Range]):
        self.allowed = allowed
        probe = allowed if isinstance(allowed, Range) else None
        self.name = "float" if probe is not None and not probe.integer else "integer"

    def convert(self, value, param, ctx) -> int | float:
        allowed = self.allowed if isinstance(self.allowed, Range) else self.allowed()
        return allowed.parse(option_name(param), value)


def option_name(param) -> str:
    """The long spelling of an option (--threads for -t/--threads), as messages name it."""
    names = getattr(param, "opts", None) or [f"--{param.name}"]
    return next((n for n in names if n.startswith("--")), names[0])


class DeviceName(click.ParamType):
    """What results call a device: any printable text (slugged where it names a folder), but no
    control characters: a newline would split every table line it is printed in."""

    name = "name"

    def convert(self, value, param, ctx) -> str:
        if not value.strip():
            raise fail("device_name", name=value, problem="it is blank")
        if any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise fail("device_name", name=value, problem="it holds control characters (a newline, a tab, ...)")
        if len(value) > 100:
            raise fail("device_name", name=value[:20] + "...", problem=f"{len(value)} characters, more than 100")
        return value


class CheckedPath(click.ParamType):
    """A path checked the way every other input is: one line naming the path and the problem, exit
    code 1 (click's own checks print usage text and exit 2).

    ``kind``: "file" (an existing file), "dir" (a folder, made if missing: it must not be a file),
    "output" (a file to write: its name must not be a folder), "existing" (anything that exists)."""

    name = "path"

    def __init__(self, kind: str):
        self.kind = kind

    def convert(self, value, param, ctx) -> Path:
        path = Path(value)
        if self.kind in ("file", "existing") and not path.exists():
            raise fail("not_found", path=path)
        if self.kind in ("file", "output") and path.is_dir():
            raise fail("is_directory", path=path)
        if self.kind == "dir" and path.exists() and not path.is_dir():
            raise fail("not_a_folder", path=path)
        return path


def int_list(option: str, text: str, allowed: Range, allow_all: bool = False) -> tuple[int, ...]:
    """``1,2,4`` -> (1, 2, 4), each within ``allowed``; with ``allow_all``, all/max/-1 stand for every
    layer (-1, llama.cpp's own)."""
    values = []
    for part in text.split(","):
        part = part.strip().lower()
        if allow_all and part in ("all", "max", "-1"):
            values.append(-1)
            continue
        try:
            value = int(part)
        except ValueError:
            raise fail("bad_sweep", option=option, detail=f"{part!r} is not a whole number") from None
        values.append(allowed.check(option, value))
    return tuple(dict.fromkeys(values))


def pair_list(values: tuple[str, ...]) -> tuple[tuple[int, int], ...]:
    """-pg 512,128 (repeatable, as llama-bench's -pg) -> ((512, 128),), each length within limits.TOKENS."""
    pairs = []
    for value in values:
        parts = value.split(",")
        if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
            raise fail("bad_pg", value=value)
        pairs.append(tuple(limits.TOKENS.check("-pg", int(p)) for p in parts))
    return tuple(dict.fromkeys(pairs))


def flash_list(text: str) -> tuple[bool | None, ...]:
    choices = {"on": True, "1": True, "off": False, "0": False, "auto": None}
    try:
        return tuple(dict.fromkeys(choices[p.strip().lower()] for p in text.split(",")))
    except KeyError as exc:
        raise fail("bad_sweep", option="--flash-attn", detail=f"{exc.args[0]!r}: use on, off or auto") from None


def choice_list(option: str, text: str, choices) -> tuple[str, ...]:
    """A comma-separated list whose every item is one of ``choices``."""
    values = tuple(dict.fromkeys(p.strip().lower() for p in text.split(",")))
    for value in values:
        if value not in choices:
            raise fail("bad_sweep", option=option, detail=f"{value!r}: use one of {', '.join(choices)}")
    return values


def sensor_list(text: str) -> tuple[str, ...] | None:
    """--sensors: None for all, () for none, else the names (checked against the known sensors)."""
    from edgeprof.bench.resources.base import SENSORS

    if text == "all":
        return None
    if text == "none":
        return ()
    names = tuple(dict.fromkeys(p.strip() for p in text.split(",")))
    for name in names:
        if name not in SENSORS:
            raise fail("bad_sweep", option="--sensors", detail=f"{name!r}: use all, none or {', '.join(SENSORS)}")
    return names


def task_folders(pairs: tuple[str, ...]) -> dict[str, Path]:
    """--task-data NAME=PATH, repeatable."""
    folders = {}
    for pair in pairs:
        name, sep, path = pair.partition("=")
        if not sep or not name or not path:
            raise fail("bad_sweep", option="--task-data", detail=f"{pair!r}: write TASK=PATH")
        folders[name.strip()] = Path(path)
    return folders


def name_list(text: str | None) -> tuple[str, ...]:
    return tuple(dict.fromkeys(p.strip() for p in text.split(",") if p.strip())) if text else ()


def say(line: str) -> None:
    """Progress and notes go to stderr, so stdout holds only what a command was asked to print."""
    click.echo(line, err=True)


RESULTS_OPTION = click.option(
    "--results", "folders", multiple=True, type=CheckedPath("existing"),
    help="A results folder (or its bench.jsonl); repeat it, one per device [default: results].")
IMAGE_FORMAT_OPTION = click.option("--image-format", "image_format", type=click.Choice(["png", "svg"]),
                                   default="png", show_default=True, help="Image format of the figures.")
NO_PROGRESS_OPTION = click.option("--no-progress", is_flag=True, help="No progress bars.")
VERBOSE_OPTION = click.option("--verbose", "-v", is_flag=True, help="Show llama.cpp's own log.")
