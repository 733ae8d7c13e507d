"""docs/architecture.md tells the truth: every module, file and directory it names exists in the repository.

The page once described a layout that no longer existed and pointed to a DESIGN.md that was not in the repo;
this reads its layout tree (resolving each name against the directory it is listed under) and every other
path it mentions, and fails on the first that is not there.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"
PATH = re.compile(r"(?<![\w.:/-])([A-Za-z_][\w.-]*(?:/[\w.-]+)*(?:\.py|\.md|\.txt|/))(?![\w(])")


def _tree(text: str) -> str:
    return text.split("## Layout", 1)[1].split("```text\n", 1)[1].split("```", 1)[0]


def tree_paths(text: str) -> list[tuple[str, Path]]:
    """(name as written, where it must be) for each name of the layout tree: a line's first word is an entry under
    the nearest less-indented directory above it; paths in its description are relative to that entry's directory
    (continuation lines belong to the entry above them)."""
    out: list[tuple[str, Path]] = []
    stack: list[tuple[int, Path]] = [(-1, ROOT)]
    here = ROOT
    for line in _tree(text).splitlines():
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        first, _, rest = line.strip().partition(" ")
        first = re.sub(r"<\w+>/$", "", first)  # stages/<name>/: the packages listed under it are in stages/
        continuation = indent >= 23 or not PATH.fullmatch(first)  # the description column of the entry above
        if continuation:
            rest = line
        else:
            while stack[-1][0] >= indent:
                stack.pop()
            parent = stack[-1][1]
            entry = parent / first.rstrip("/")
            out.append((first, entry))
            here = entry if first.endswith("/") else parent
            if first.endswith("/"):
                stack.append((indent, entry))
        for name in PATH.findall(rest):
            candidates = [here / name, ROOT / name, ROOT / "distill_cli" / name]
            out.append((name, next((c for c in candidates if c.exists()), here / name)))
    return out


def test_every_name_in_the_layout_tree_exists():
    paths = tree_paths(DOC.read_text(encoding="utf-8"))
    assert len(paths) > 40  # the tree was parsed, not skipped
    missing = [f"{name} (expected at {where.relative_to(ROOT)})" for name, where in paths if not where.exists()]
    assert not missing, f"docs/architecture.md names what does not exist: {missing}"


def test_every_path_outside_the_tree_exists():
    text = DOC.read_text(encoding="utf-8")
    prose = text.replace(_tree(text), "")
    names = {n for n in PATH.findall(prose) if "/" in n}  # a bare core.py is "each stage's core.py"
    missing = [n for n in sorted(names) if not any((base / n).exists() for base in (ROOT, ROOT / "distill_cli",
                                                                                  ROOT / "docs"))]
    assert not missing, f"docs/architecture.md names what does not exist: {missing}"
    assert "DESIGN.md" not in text or (ROOT / "DESIGN.md").exists()


def test_a_missing_module_is_caught(tmp_path):
    """The checker itself: a made-up module in the tree is reported."""
    text = DOC.read_text(encoding="utf-8").replace("    base.py ", "    nosuch.py ")
    assert any(not where.exists() and name == "nosuch.py" for name, where in tree_paths(text))
