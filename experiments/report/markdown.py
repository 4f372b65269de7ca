"""Render a :class:`Document` to Markdown (images linked by file name, next to report.md)."""

from __future__ import annotations

from experiments.report.document import Code, Document, Image, Link, Paragraph, Table


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(t: Table) -> list[str]:
    lines = [f"**{t.caption}**", ""] if t.caption else []
    lines.append("| " + " | ".join(_cell(h) for h in t.headers) + " |")
    lines.append("|" + "|".join("---" for _ in t.headers) + "|")
    for i, row in enumerate(t.rows):
        cells = [_cell(c) for c in row]
        if cells and t.links and i < len(t.links) and t.links[i]:
            cells[0] = f"[{cells[0]}]({t.links[i]})"
        lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


def to_markdown(doc: Document) -> str:
    lines = [f"# {doc.title}", ""]
    for banner in doc.banners:
        lines += [f"> **{banner}**", ""]
    for paragraph in doc.lead:
        lines += [f"**{paragraph.text}**", ""]
    lines += [doc.subtitle, ""]
    if doc.index_href:
        lines += [f"All runs and comparisons: [the reports index]({doc.index_href})", ""]
    for section in doc.sections:
        lines += [f"## {section.title}", ""]
        for b in section.blocks:
            if isinstance(b, Paragraph):
                lines += [f"> {b.text}" if b.css == "finding" else b.text, ""]
            elif isinstance(b, Table):
                lines += _table(b)
            elif isinstance(b, Image):
                lines += [f"![{b.caption}]({b.path.name})", ""]
            elif isinstance(b, Code):
                lines += ([b.caption, ""] if b.caption else []) + ["```", b.text, "```", ""]
            elif isinstance(b, Link):
                lines += [f"[{b.text}]({b.href})", ""]
    return "\n".join(lines).rstrip() + "\n"
