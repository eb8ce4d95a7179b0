"""A flaky test must fail CI, not pass on a second try: no rerun plugin, no rerun marker."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tests import conftest

REPO = Path(__file__).resolve().parents[2]


class _Item:
    def __init__(self, path: str) -> None:
        self.fspath = path
        self.markers: list[pytest.MarkDecorator] = []

    def add_marker(self, marker: pytest.MarkDecorator) -> None:
        self.markers.append(marker)


def test_integration_tests_get_no_rerun_marker() -> None:
    item = _Item(str(REPO / "tests/integration/operator/test_x.py"))
    conftest.pytest_collection_modifyitems([item])  # type: ignore[list-item]
    assert [m.name for m in item.markers] == ["integration"]


def test_no_rerun_plugin_is_installed_by_the_project() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    deps = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    assert not [d for d in deps if "rerun" in d or "flaky" in d]
