"""Path arguments checked the way every other input is: one line naming the path and the problem,
exit code 1 (click's own checks print usage text and exit 2)."""

from __future__ import annotations

from pathlib import Path

import click


class CheckedPath(click.ParamType):
    """``kind``: "file" (an existing file), "dir" (a folder, made if missing: it must not be a file),
    "output" (a file to write: its name must not be a folder), "existing" (anything that exists)."""

    name = "path"

    def __init__(self, kind: str):
        self.kind = kind

    def convert(self, value, param, ctx) -> Path:
        from edgeprof.errors import fail

        path = Path(value)
        if self.kind in ("file", "existing") and not path.exists():
            raise fail("not_found", path=path)
        if self.kind in ("file", "output") and path.is_dir():
            raise fail("is_directory", path=path)
        if self.kind == "dir" and path.exists() and not path.is_dir():
            raise fail("not_a_folder", path=path)
        return path
