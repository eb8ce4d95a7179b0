"""Fixtures for git under hostile conditions: no procps on PATH, a remote that never answers."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.process_table import kill_leftovers
from tests.stalling_http import silent_endpoint


@pytest.fixture
def git_only_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """PATH is one directory holding a symlink to git: no ``ps``, no ``pgrep``, no shell."""
    real_git = shutil.which("git")
    assert real_git is not None
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "git").symlink_to(real_git)
    monkeypatch.setenv("PATH", str(bin_dir))
    assert shutil.which("ps") is None and shutil.which("pgrep") is None
    return bin_dir


@pytest.fixture
def hung_http_remote() -> Iterator[str]:
    """An http:// repository URL on a socket that accepts TCP and never answers."""
    with silent_endpoint() as base:
        url = f"{base}/fleet/hung.git"
        try:
            yield url
        finally:
            kill_leftovers(url)
