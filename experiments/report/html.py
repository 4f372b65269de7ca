"""Render a :class:`Document` to one self-contained HTML file (inline CSS, PNGs as base64)."""

from __future__ import annotations

import base64
import re
from html import escape

from experiments.report.document import Code, Document, Image, Link, Paragraph, Section, Table

CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;color:#222;background:#fafafa}
main{max-width:1100px;margin:0 auto;padding:1.5em 2em;background:#fff}
h1{margin-bottom:.1em}h2{border-bottom:2px solid #e5e5e5;padding-bottom:.2em;margin-top:1.8em}
.subtitle{color:#666;margin-top:0}
table{border-collapse:collapse;margin:.8em 0;font-size:.9em}
th,td{border:1px solid #ddd;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#f2f4f7}td.num{text-align:right;font-variant-numeric:tabular-nums}
td.better{background:#e8f5e9}td.worse{background:#fdecea}td.sig{font-weight:bold}
caption{caption-side:top;text-align:left;font-weight:bold;padding:.3em 0}
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #eee}
figcaption{color:#555;font-size:.9em}
p.finding{background:#f4f8fd;border-left:4px solid #1f77b4;padding:.5em .8em}
p.note{color:#666;font-size:.9em}
pre{background:#f6f8fa;padding:.8em;overflow:auto;font-size:.85em}
nav a{margin-right:1em}
nav.up{font-size:.9em;margin-bottom:.6em}
.banner{background:#fff4e5;border:2px solid #e67e22;padding:.6em .9em;margin:.6em 0;font-weight:bold}
p.audit-clean,p.audit-dirty,p.audit-in-flight,p.audit-none{padding:.5em .9em;margin:.6em 0;font-weight:bold}
p.audit-clean{background:#e8f5e9;border-left:4px solid #2e7d32}
p.audit-dirty{background:#fdecea;border:2px solid #c62828}
p.audit-in-flight{background:#fff4e5;border-left:4px solid #e67e22}
p.audit-none{background:#f4f4f4;border-left:4px solid #999;font-weight:normal}
"""

_NUMERIC = re.compile(r"^[-+]?[\d.,]+\s*(%|x|ms|s|min|/s|pp)?(\s*\[.*\])?$")


def _table(t: Table) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in t.headers)
    body = []
    for i, row in enumerate(t.rows):
        cells = []
        for j, cell in enumerate(row):
            classes = []
            if t.align_numbers and _NUMERIC.match(cell.strip()):
                classes.append("num")
            if t.classes and i < len(t.classes) and j < len(t.classes[i]) and t.classes[i][j]:
                classes.append(t.classes[i][j])
            attr = f' class="{" ".join(classes)}"' if classes else ""
            text = escape(cell)
            if j == 0 and t.links and i < len(t.links) and t.links[i]:
                text = f'<a href="{escape(t.links[i] or "", quote=True)}">{text}</a>'
            cells.append(f"<td{attr}>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    caption = f"<caption>{escape(t.caption)}</caption>" if t.caption else ""
    return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _image(img: Image) -> str:
    data = base64.b64encode(img.path.read_bytes()).decode("ascii")
    alt = escape(img.caption)
    return (
        f'<figure><img alt="{alt}" src="data:image/png;base64,{data}">'
        f"<figcaption>{alt}</figcaption></figure>"
    )


def _block(block: Paragraph | Table | Image | Code | Link) -> str:
    if isinstance(block, Paragraph):
        css = f' class="{block.css}"' if block.css else ""
        return f"<p{css}>{escape(block.text)}</p>"
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, Image):
        return _image(block)
    if isinstance(block, Code):
        cap = f"<p class=note>{escape(block.caption)}</p>" if block.caption else ""
        return f"{cap}<pre>{escape(block.text)}</pre>"
    return f'<p><a href="{escape(block.href, quote=True)}">{escape(block.text)}</a></p>'


def _section(s: Section, anchor: str) -> str:
    return (
        f'<section id="{anchor}"><h2>{escape(s.title)}</h2>'
        + "".join(_block(b) for b in s.blocks)
        + "</section>"
    )


def to_html(doc: Document) -> str:
    anchors = [f"s{i}" for i in range(len(doc.sections))]
    nav = "".join(
        f'<a href="#{a}">{escape(s.title)}</a>' for a, s in zip(anchors, doc.sections, strict=True)
    )
    body = "".join(_section(s, a) for s, a in zip(doc.sections, anchors, strict=True))
    banners = "".join(f"<div class=banner role=alert>{escape(b)}</div>" for b in doc.banners)
    lead = "".join(_block(p) for p in doc.lead)
    up = (
        f'<nav class=up><a href="{escape(doc.index_href, quote=True)}">&larr; All runs '
        "(reports index)</a></nav>"
        if doc.index_href
        else ""
    )
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(doc.title)}</title><style>{CSS}</style></head><body><main>{up}"
        f"<h1>{escape(doc.title)}</h1>{banners}{lead}<p class=subtitle>{escape(doc.subtitle)}</p>"
        f"<nav>{nav}</nav>{body}</main></body></html>\n"
    )
