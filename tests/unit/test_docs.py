"""The repository documents itself: references point at docs/ pages and headings that exist.

* No tracked file cites the design document that is not in the repository, or a path outside
  the repository (a shared folder beside the checkout, a relative path climbing above the root,
  the checkout's own absolute path).
* Every ``docs/<page>.md`` (with an optional ``#anchor``) named in code, comments, form help
  texts or markdown exists, and so does the heading the anchor names.
* Every relative link of a tracked markdown file resolves inside the repository, to a file that
  exists (and to a heading of it, when the link has an anchor into a markdown file).

Anchors are GitHub's heading slugs (:func:`slug`).
"""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from functools import cache
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCS = REPO_ROOT / "docs"

# Spelled in pieces so that this file does not match itself.
MISSING_DESIGN_DOC = "DESIGN" + ".md"
SHARED_DIR = "../" + "shared"

DOC_REF = re.compile(r"(?<![\w/.-])docs/([A-Za-z0-9_-]+\.md)(?:#([A-Za-z0-9_-]+))?")
PARENT_PATH = re.compile(r"(?<![\w.])(?:\.\./)+[^\s'\"`()<>\[\]{},;]*")
MD_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, markup and punctuation dropped (letters, digits,
    spaces, ``-`` and ``_`` kept), spaces turned into hyphens."""
    text = re.sub(r"`([^`]*)`", r"\1", heading)  # inline code keeps its text
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link keeps its text
    text = text.strip().lower()
    text = "".join(ch for ch in text if ch.isalnum() or ch in " -_")
    return text.replace(" ", "-")


def anchors_of(markdown: str) -> set[str]:
    """Every heading anchor of a markdown text (repeats get GitHub's -1, -2 ... suffixes)."""
    seen: Counter[str] = Counter()
    anchors: set[str] = set()
    in_fence = False
    for line in markdown.splitlines():
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        m = None if in_fence else HEADING.match(line)
        if m is None:
            continue
        base = slug(m.group(2))
        anchors.add(base if seen[base] == 0 else f"{base}-{seen[base]}")
        seen[base] += 1
    return anchors


@cache
def tracked_files() -> tuple[Path, ...]:
    """The files git tracks (``git ls-files``) that exist in the working tree."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z"],
            cwd=REPO_ROOT, capture_output=True, check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"not a git checkout: {exc}")
    paths = (REPO_ROOT / name for name in out.decode("utf-8").split("\0") if name)
    return tuple(sorted(p for p in paths if p.is_file()))


@cache
def text_of(path: Path) -> str | None:
    data = path.read_bytes()
    if b"\0" in data[:8192]:
        return None
    return data.decode("utf-8", errors="replace")


def text_files() -> list[tuple[Path, str]]:
    return [(p, t) for p in tracked_files() if (t := text_of(p)) is not None]


def _where(path: Path, text: str, pos: int) -> str:
    return f"{path.relative_to(REPO_ROOT)}:{text.count(chr(10), 0, pos) + 1}"


def _inside_repo(path: Path) -> bool:
    return path == REPO_ROOT or REPO_ROOT in path.parents


@cache
def doc_anchors(page: Path) -> frozenset[str]:
    return frozenset(anchors_of(page.read_text(encoding="utf-8")))


# --- the slug function itself ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("Retry tiers", "retry-tiers"),
        ("Exactly-once effect", "exactly-once-effect"),
        ("Score before and after regeneration", "score-before-and-after-regeneration"),
        ("The `retry_after` mode (obey/exact)", "the-retry_after-mode-obeyexact"),
        ("From a shell: `harness run`", "from-a-shell-harness-run"),
    ],
)
def test_slug_follows_github(heading: str, anchor: str) -> None:
    assert slug(heading) == anchor


def test_repeated_headings_get_numbered_anchors() -> None:
    text = "# A\n## Notes\n```\n# not a heading\n```\n## Notes\n"
    assert anchors_of(text) == {"a", "notes", "notes-1"}


# --- the repository ------------------------------------------------------------------------------


def test_docs_pages_exist() -> None:
    for name in ("README.md", "architecture.md", "errors-and-retries.md", "metrics.md",
                 "experiments.md"):
        assert (DOCS / name).is_file(), f"docs/{name} is missing"


def test_no_reference_to_the_missing_design_doc_or_outside_paths() -> None:
    problems = []
    checkout = str(REPO_ROOT)
    for path, text in text_files():
        for needle in (MISSING_DESIGN_DOC, SHARED_DIR, checkout):
            for m in re.finditer(re.escape(needle), text):
                problems.append(f"{_where(path, text, m.start())}: {needle}")
        for m in PARENT_PATH.finditer(text):
            target = (path.parent / m.group(0)).resolve()
            if not _inside_repo(target):
                problems.append(f"{_where(path, text, m.start())}: {m.group(0)} leaves the repository")
    assert not problems, "references outside the repository:\n" + "\n".join(problems)


def test_docs_references_exist() -> None:
    problems = []
    found = 0
    for path, text in text_files():
        for m in DOC_REF.finditer(text):
            found += 1
            page, anchor = DOCS / m.group(1), m.group(2)
            where = _where(path, text, m.start())
            if not page.is_file():
                problems.append(f"{where}: docs/{m.group(1)} does not exist")
            elif anchor and anchor not in doc_anchors(page):
                problems.append(f"{where}: docs/{m.group(1)} has no heading #{anchor}")
    assert found, "no docs/ reference found at all: is the pattern broken?"
    assert not problems, "broken docs/ references:\n" + "\n".join(problems)


def test_markdown_links_resolve() -> None:
    problems = []
    for path, text in text_files():
        if path.suffix != ".md":
            continue
        for m in MD_LINK.finditer(text):
            target = m.group(1)
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
                continue
            file_part, _, anchor = target.partition("#")
            dest = (path.parent / file_part).resolve() if file_part else path
            where = _where(path, text, m.start())
            if not _inside_repo(dest):
                problems.append(f"{where}: {target} leaves the repository")
            elif not dest.exists():
                problems.append(f"{where}: {target} does not exist")
            elif anchor and dest.suffix == ".md" and anchor not in doc_anchors(dest):
                problems.append(f"{where}: {target}: no such heading")
    assert not problems, "broken markdown links:\n" + "\n".join(problems)


def _descriptions(node: object) -> list[str]:
    """Every ``description`` string anywhere in a JSON schema."""
    if isinstance(node, dict):
        own = [node["description"]] if isinstance(node.get("description"), str) else []
        return own + [d for value in node.values() for d in _descriptions(value)]
    if isinstance(node, list):
        return [d for value in node for d in _descriptions(value)]
    return []


def test_form_help_texts_cite_docs_pages_that_exist() -> None:
    """The trigger form's help texts are the experiment spec schema's descriptions."""
    from experiments import spec as spec_module

    descriptions = _descriptions(spec_module.schema())
    assert descriptions, "the experiment spec schema has no descriptions"
    for text in descriptions:
        assert MISSING_DESIGN_DOC not in text, text
        for m in DOC_REF.finditer(text):
            assert (DOCS / m.group(1)).is_file(), f"{text!r}: docs/{m.group(1)} does not exist"
