"""The product ships only the product: the sandbox and the demo are a separate development package."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from click.testing import CliRunner

from controller.cli.main import main

REPO = Path(__file__).resolve().parents[2]


def test_the_controller_package_holds_no_sandbox_or_demo() -> None:
    assert not (REPO / "controller" / "sandbox").exists()
    assert not (REPO / "controller" / "demo.py").exists()
    packages = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    assert packages["include"] == ["controller*"]


def test_gitcanary_run_imports_no_development_code() -> None:
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from controller.cli.main import main\n"
        "import controller.operator\n"
        "result = CliRunner().invoke(main, ['run', '--help'])\n"
        "assert result.exit_code == 0, result.output\n"
        "print(sorted(m for m in sys.modules if m.startswith('gitcanary_sandbox')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="/")
    assert out.stdout.strip() == "[]"


def test_the_development_commands_are_plugins_of_the_cli() -> None:
    runner = CliRunner()
    listing = runner.invoke(main, ["--help"])
    assert listing.exit_code == 0
    assert "demo" in listing.output and "sandbox" in listing.output
    status = runner.invoke(main, ["sandbox", "--help"])
    assert status.exit_code == 0, status.output
    assert "up" in status.output and "down" in status.output


def test_an_unknown_command_is_still_an_error() -> None:
    result = CliRunner().invoke(main, ["no-such-command"])
    assert result.exit_code == 2
    assert "No such command" in result.output
