"""A tiny document model, rendered both to self-contained HTML and to Markdown."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Paragraph:
    text: str
    css: str | None = None  # e.g. "finding", "note"


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]
    caption: str | None = None
    #: optional per-cell CSS classes, same shape as rows ("" for none)
    classes: list[list[str]] | None = None
    #: right-align cells that look numeric (off for key/value tables)
    align_numbers: bool = True
    #: optional per-row link for the first cell (relative href), None for none
    links: list[str | None] | None = None


@dataclass
class Image:
    path: Path
    caption: str


@dataclass
class Code:
    text: str
    caption: str | None = None


@dataclass
class Link:
    href: str
    text: str


@dataclass
class Section:
    title: str
    blocks: list[Paragraph | Table | Image | Code | Link] = field(default_factory=list)


#: a run report's link to the reports index: the report is reports/<run>/index.html
RUN_INDEX_HREF = "../index.html"


@dataclass
class Document:
    title: str
    subtitle: str = ""
    sections: list[Section] = field(default_factory=list)
    #: warnings the document opens with, right under its title (e.g. a partial report)
    banners: list[str] = field(default_factory=list)
    #: lines shown right after the banners, before the sections (e.g. the audit's verdict)
    lead: list[Paragraph] = field(default_factory=list)
    #: relative link back to the reports index (reports/index.html) from where the document is
    #: written, at the top of the page; None for none
    index_href: str | None = RUN_INDEX_HREF
