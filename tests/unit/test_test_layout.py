"""Test modules have unique module names.

The test folders are not packages, so pytest imports every test module by its basename: two
``test_x.py`` files in different folders stop the whole collection ("import file mismatch").
That happened in a clean clone (tests/unit/test_bench_smoke.py and
tests/integration/test_bench_smoke.py) and passed unnoticed where a __pycache__ hid it.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def module_name(path: Path) -> str:
    """The name pytest's default import mode gives a test module: its basename, prefixed by the
    folders above it that are packages (hold an ``__init__.py``)."""
    parts = [path.stem]
    folder = path.parent
    while (folder / "__init__.py").exists():
        parts.insert(0, folder.name)
        folder = folder.parent
    return ".".join(parts)


def test_every_test_module_name_is_unique() -> None:
    seen: defaultdict[str, list[str]] = defaultdict(list)
    for path in TESTS.rglob("test_*.py"):
        if "__pycache__" not in path.parts:
            seen[module_name(path)].append(str(path.relative_to(TESTS)))
    clashes = {name: paths for name, paths in seen.items() if len(paths) > 1}
    assert not clashes, f"rename one of each: {clashes}"
