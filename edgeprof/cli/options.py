"""What several commands share: checked path arguments, list options, and the option definitions used
by more than one command (so each spelling and help text is written once)."""

from __future__ import annotations

from pathlib import Path

import click

from edgeprof.errors import fail


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


def int_list(option: str, text: str, allow_all: bool = False) -> tuple[int, ...]:
    """``1,2,4`` -> (1, 2, 4); with ``allow_all``, all/max/-1 stand for every layer (-1, llama.cpp's own)."""
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
        if value < 0:
            raise fail("bad_sweep", option=option, detail=f"{value} is negative")
        values.append(value)
    return tuple(dict.fromkeys(values))


def pair_list(values: tuple[str, ...]) -> tuple[tuple[int, int], ...]:
    """-pg 512,128 (repeatable, as llama-bench's -pg) -> ((512, 128),)."""
    pairs = []
    for value in values:
        parts = value.split(",")
        if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
            raise fail("bad_pg", value=value)
        pairs.append((int(parts[0]), int(parts[1])))
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
