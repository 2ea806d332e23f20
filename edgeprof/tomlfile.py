"""Reading TOML files users write (models.toml, recipes, suites) with errors that name file and line."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from edgeprof.errors import did_you_mean, fail

_TYPE_NAMES = {str: "a string", list: "a list", int: "an integer", dict: "a table", bool: "true/false"}


def load_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise fail("toml_syntax", path=path, line=1, detail="not UTF-8 text") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"line (\d+)", str(exc))
        line = found.group(1) if found else text.rstrip("\n").count("\n") + 1  # "at end of document"
        detail = re.sub(r"\s*\((at line \d+, column \d+|at end of document)\)", "", str(exc))
        raise fail("toml_syntax", path=path, line=line, detail=detail) from None


def check_keys(path: Path, where: str, table: dict[str, Any], allowed: set[str]) -> None:
    for key in table:
        if key not in allowed:
            raise fail("toml_key", path=path, where=where, key=key, hint=did_you_mean(key, allowed))


def require(path: Path, where: str, table: dict[str, Any], key: str, kind: type) -> Any:
    if key not in table:
        raise fail("toml_missing", path=path, where=where, key=key)
    return expect(path, where, table, key, kind)


def expect(path: Path, where: str, table: dict[str, Any], key: str, kind: type) -> Any:
    value = table[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise fail("toml_type", path=path, where=where, key=key, expected=_TYPE_NAMES.get(kind, kind.__name__),
                   got=type(value).__name__)
    return value


def location(text: str, table: str, index: int = 0, key: str | None = None, array: bool | None = None) -> str:
    """'line N, table[i].key' for error messages: the line of ``key`` inside the i-th ``[[table]]``
    (or the ``[table]``; no index then), or of the table's header without a key. ``array`` says
    whether the table is an array of tables when the text cannot (it is given inline)."""
    headers = list(re.finditer(rf"^[ \t]*(\[\[?)\s*{re.escape(table)}\s*\]\]?", text, re.M))
    if array is None:
        array = any(h.group(1) == "[[" for h in headers)
    label = (f"{table}[{index}]" if array else table) + (f".{key}" if key else "")
    if index >= len(headers):
        return label
    start = headers[index].start()
    end = headers[index + 1].start() if index + 1 < len(headers) else len(text)
    offset = start
    if key:
        found = re.search(rf"^[ \t]*{re.escape(key)}\s*=", text[start:end], re.M)
        offset = start + found.start() if found else start
    return f"line {text.count(chr(10), 0, offset) + 1}, {label}"
