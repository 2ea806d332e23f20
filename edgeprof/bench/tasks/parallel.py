"""Parallel corpora kept one file per language (FLORES+: ``devtest/cmn_Hans.parquet``,
``devtest/eng_Latn.parquet``, the same ``id`` in each): name several files in one glob with shell
braces, and join their records on a field so that one record holds every language.

A joined record maps each file's stem to that file's record, so a task file's fields read
``cmn_Hans.text`` and ``eng_Latn.text``.
"""

from __future__ import annotations

import re
from pathlib import Path

from edgeprof.errors import fail

_BRACES = re.compile(r"\{([^{}]*,[^{}]*)\}")


def expand(pattern: str) -> list[str]:
    """``'devtest/{cmn_Hans,eng_Latn}.parquet'`` -> one glob per alternative (every brace group,
    left to right); a pattern without braces is itself."""
    match = _BRACES.search(pattern)
    if match is None:
        return [pattern]
    head, tail = pattern[:match.start()], pattern[match.end():]
    return [out for choice in match.group(1).split(",") for out in expand(head + choice + tail)]


def join(records: list[tuple[dict, str]], key: str, root: Path) -> list[tuple[dict, str]]:
    """Records that share ``key`` merged into one ``{file stem: record}``, in first-seen order.
    Records without the key are left out (nothing pairs them); two records of one file stem with
    the same key (say, a dev and a devtest file both matched) are an error, never a silent pick."""
    merged: dict[str, dict] = {}
    for record, stem in records:
        value = record.get(key)
        if value is None:
            continue
        entry = merged.setdefault(str(value), {})
        if stem in entry:
            raise fail("task_file_bad", path=root,
                       detail=f"two {stem} records with {key} {value} (point at one split's folder)")
        entry[stem] = record
    stems = "+".join(dict.fromkeys(stem for _, stem in records))
    return [(entry, stems) for entry in merged.values()]
