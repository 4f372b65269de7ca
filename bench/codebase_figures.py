"""Figures of the code base, before and after a change: lines of code per top-level package,
imports that point up a layer, and the largest functions.

    .state/venv/bin/python bench/codebase_figures.py                 # 8ada5e7 against HEAD
    .state/venv/bin/python bench/codebase_figures.py --after WORKTREE   # against the files here

Each revision is read from ``git archive REV`` unpacked into a temporary folder (the working tree
is never touched). Lines of code are the non-blank lines that are not only a comment (docstrings
count). The layers are the contract of ``[tool.importlinter]`` in pyproject.toml (this checkout's,
for both revisions); an *upward* import is an ``import`` statement, at any depth (deferred ones
inside functions included), in a module of one layer naming a package of a higher layer or of a
sibling of the same layer (``experiments | flink`` are independent). Chains through a third
module are ``lint-imports``'s job and are not counted here.
"""

from __future__ import annotations

import argparse
import ast
import subprocess
import tarfile
import tempfile
import tomllib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WORKTREE = "WORKTREE"
#: folders whose functions rank among "the largest" (the product, not its tests and benchmarks)
PRODUCT = ("foundation", "pipeline", "flink", "experiments", "harness", "dags")


@dataclass(frozen=True)
class Upward:
    module: str
    line: int
    imported: str

    def describe(self) -> str:
        return f"{self.module}:{self.line} -> {self.imported}"


@dataclass(frozen=True)
class Function:
    name: str
    path: str
    line: int
    lines: int


def layers(pyproject: Path = REPO / "pyproject.toml") -> dict[str, int]:
    """Package -> layer index (0 = the bottom) from the first layers contract."""
    config = tomllib.loads(pyproject.read_text())["tool"]["importlinter"]
    contract = next(c for c in config["contracts"] if c["type"] == "layers")
    ranked: dict[str, int] = {}
    for rank, layer in enumerate(reversed(contract["layers"])):
        for package in layer.replace(":", "|").split("|"):
            ranked[package.strip()] = rank
    return ranked


def checkout(rev: str, into: Path) -> Path:
    """The tree of REV unpacked under INTO (or this working tree for WORKTREE)."""
    if rev == WORKTREE:
        return REPO
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", rev],
                             check=True, capture_output=True).stdout
    target = into / rev.replace("/", "_")
    target.mkdir(parents=True)
    with tempfile.TemporaryFile() as tmp:
        tmp.write(archive)
        tmp.seek(0)
        with tarfile.open(fileobj=tmp) as tar:
            tar.extractall(target, filter="data")
    return target


def python_files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root).parts
        if not any(part.startswith(".") or part == "__pycache__" for part in relative):
            yield path


def code_lines(source: str) -> int:
    return sum(1 for line in source.splitlines() if line.strip() and not line.strip().startswith("#"))


def lines_per_package(root: Path) -> Counter[str]:
    counts: Counter[str] = Counter()
    for path in python_files(root):
        parts = path.relative_to(root).parts
        package = parts[0] if len(parts) > 1 else "(top-level files)"
        counts[package] += code_lines(path.read_text(errors="replace"))
    return counts


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_names(tree: ast.AST, module: str, is_package: bool) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import statement, relative ones resolved."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            yield node.lineno, name


def upward_imports(root: Path, ranked: dict[str, int]) -> list[Upward]:
    found: list[Upward] = []
    for package, rank in ranked.items():
        if not (root / package).is_dir():
            continue
        for path in python_files(root / package):
            module = module_name(root, path)
            tree = ast.parse(path.read_text(errors="replace"), str(path))
            for line, name in imported_names(tree, module, path.name == "__init__.py"):
                top = name.split(".")[0]
                if top != package and top in ranked and ranked[top] >= rank:
                    found.append(Upward(module, line, name))
    return found


def largest_functions(root: Path, count: int = 10) -> list[Function]:
    functions: list[Function] = []
    for folder in PRODUCT:
        for path in python_files(root / folder) if (root / folder).is_dir() else ():
            tree = ast.parse(path.read_text(errors="replace"), str(path))
            functions.extend(_functions(tree, path.relative_to(root).as_posix(), ""))
    return sorted(functions, key=lambda f: (-f.lines, f.path, f.line))[:count]


def _functions(node: ast.AST, path: str, prefix: str) -> Iterator[Function]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
            name = f"{prefix}{child.name}"
            start = min([child.lineno, *(d.lineno for d in child.decorator_list)])
            yield Function(name, path, child.lineno, (child.end_lineno or child.lineno) - start + 1)
            yield from _functions(child, path, f"{name}.")
        elif isinstance(child, ast.ClassDef):
            yield from _functions(child, path, f"{prefix}{child.name}.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", default="8ada5e7", help="git revision (default 8ada5e7)")
    parser.add_argument("--after", default="HEAD", help=f"git revision or {WORKTREE} (default HEAD)")
    parser.add_argument("--top", type=int, default=10, help="how many of the largest functions")
    args = parser.parse_args()
    ranked = layers()
    with tempfile.TemporaryDirectory() as tmp:
        before, after = checkout(args.before, Path(tmp)), checkout(args.after, Path(tmp))
        loc_before, loc_after = lines_per_package(before), lines_per_package(after)
        up_before, up_after = upward_imports(before, ranked), upward_imports(after, ranked)
        biggest = largest_functions(after, args.top)

    print(f"Lines of code (non-blank, non-comment) per top-level folder: {args.before} -> {args.after}")
    print(f"  {'folder':<20}{'before':>8}{'after':>8}{'change':>8}")
    for package in sorted(set(loc_before) | set(loc_after)):
        b, a = loc_before[package], loc_after[package]
        print(f"  {package:<20}{b:>8}{a:>8}{a - b:>+8}")
    total_b, total_a = sum(loc_before.values()), sum(loc_after.values())
    print(f"  {'total':<20}{total_b:>8}{total_a:>8}{total_a - total_b:>+8}")

    order = " > ".join(" | ".join(sorted(p for p in ranked if ranked[p] == rank))
                       for rank in sorted(set(ranked.values()), reverse=True))
    print(f"\nUpward (or sideways) import statements, layers {order}:")
    print(f"  {args.before}: {len(up_before)}    {args.after}: {len(up_after)}")
    for label, found in ((args.before, up_before), (args.after, up_after)):
        for upward in found:
            print(f"  [{label}] {upward.describe()}")

    print(f"\nThe {args.top} largest functions at {args.after} (lines, decorators included):")
    for function in biggest:
        print(f"  {function.lines:>5}  {function.path}:{function.line}  {function.name}")


if __name__ == "__main__":
    main()
