"""A report as data (sections of paragraphs, tables and figures) and its two renderings:
Markdown beside the figure files, and one self-contained HTML page with the figures embedded."""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    caption: str = ""


@dataclass(frozen=True)
class Image:
    path: Path
    caption: str


@dataclass
class Section:
    title: str
    blocks: list = field(default_factory=list)  # str (a paragraph) | Table | Image | Section


@dataclass
class Document:
    title: str
    sections: list[Section] = field(default_factory=list)


# What Markdown viewers would take as markup rather than text: the start of an HTML tag, comment or
# declaration (`<b`, `</`, `<!`, `<?`), an entity (`&lt;`, `&#60;`), and line breaks (a new line in a
# name would end a table row or a heading). A bare `<` (`p < 0.05`, `<= 0.05`) stays as it is.
_TAG_START = re.compile(r"<(?=[A-Za-z/!?])")
_ENTITY = re.compile(r"&(?=#?\w+;)")
_BREAKS = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")


def md_text(text: str) -> str:
    """``text`` (names come from users, hostnames and model files) as Markdown that shows exactly it:
    on one line, no HTML."""
    text = _BREAKS.sub(" ", str(text))
    return _TAG_START.sub("&lt;", _ENTITY.sub("&amp;", text))


def to_markdown(doc: Document, folder: Path) -> str:
    lines = [f"# {md_text(doc.title)}", ""]
    for section in doc.sections:
        _section_md(section, 2, folder, lines)
    return "\n".join(lines).rstrip() + "\n"


def _section_md(section: Section, depth: int, folder: Path, lines: list[str]) -> None:
    lines += [f"{'#' * depth} {md_text(section.title)}", ""]
    for block in section.blocks:
        if isinstance(block, Section):
            _section_md(block, depth + 1, folder, lines)
        elif isinstance(block, Table):
            lines += _table_md(block)
        elif isinstance(block, Image):
            caption = md_text(block.caption)
            alt = caption.replace("[", "\\[").replace("]", "\\]")
            lines += [f"![{alt}]({_relative(block.path, folder)})", "", f"*{caption}*", ""]
        else:
            lines += [md_text(block), ""]


def _table_md(table: Table) -> list[str]:
    def row(cells) -> str:
        return "| " + " | ".join(md_text(c).replace("|", "\\|") for c in cells) + " |"

    out = [row(table.header), "|" + "|".join("---" for _ in table.header) + "|"]
    out += [row(r) for r in table.rows]
    return out + (["", f"*{md_text(table.caption)}*"] if table.caption else []) + [""]


def _relative(path: Path, folder: Path) -> str:
    try:
        return path.resolve().relative_to(folder.resolve()).as_posix()
    except ValueError:
        return path.resolve().as_uri()


STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1180px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:.86em}
th,td{border:1px solid #ccc;padding:.25em .55em;text-align:right}
th{background:#f2f2f2}td:first-child,th:first-child{text-align:left}
figure{margin:1em 0 2em}figure img{max-width:100%;border:1px solid #eee}
figcaption,.caption{color:#555;font-size:.85em}code{background:#f5f5f5;padding:0 .2em}
"""


def to_html(doc: Document) -> str:
    """One page, no external resources: figures become data: URIs."""
    parts = ["<!DOCTYPE html>", "<html lang=\"en\"><head><meta charset=\"utf-8\">",
             f"<title>{html.escape(doc.title)}</title><style>{STYLE}</style></head><body>",
             f"<h1>{html.escape(doc.title)}</h1>"]
    for section in doc.sections:
        _section_html(section, 2, parts)
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _section_html(section: Section, depth: int, parts: list[str]) -> None:
    parts.append(f"<section><h{depth}>{html.escape(section.title)}</h{depth}>")
    for block in section.blocks:
        if isinstance(block, Section):
            _section_html(block, min(depth + 1, 6), parts)
        elif isinstance(block, Table):
            parts.append(_table_html(block))
        elif isinstance(block, Image):
            parts.append(f"<figure><img src=\"{_data_uri(block.path)}\" alt=\"{html.escape(block.caption)}\">"
                         f"<figcaption>{html.escape(block.caption)}</figcaption></figure>")
        else:
            parts.append(f"<p>{html.escape(block)}</p>")
    parts.append("</section>")


def _table_html(table: Table) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in table.rows)
    caption = f"<p class=\"caption\">{html.escape(table.caption)}</p>" if table.caption else ""
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{caption}"


def _data_uri(path: Path) -> str:
    mime = {".png": "image/png", ".svg": "image/svg+xml"}[path.suffix.lower()]
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"
