"""The git runner: hermetic configuration, a total deadline, and the whole group killed without procps."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from controller.gitops.plumbing.gitproc import ProcessTimeout, git_environment, run_git, run_process
from tests.process_table import kill_leftovers, processes_mentioning


def test_a_hung_remote_times_out_and_its_whole_process_group_is_killed_without_procps(
    tmp_path: Path, git_only_path: Path, hung_http_remote: str
) -> None:
    """``git fetch`` over http runs ``git-remote-http`` as a child: killing git alone would leave
    it holding the connection and git's pipes."""
    started = time.monotonic()
    with pytest.raises(ProcessTimeout, match="git timed out after 2s"):
        run_git(["ls-remote", "--", hung_http_remote], timeout_s=2.0, cwd=tmp_path)
    elapsed = time.monotonic() - started
    assert elapsed < 2.0 + 3.0, f"returned after {elapsed:.1f}s"
    assert processes_mentioning(hung_http_remote) == [], "git or its remote helper outlived the timeout"


def test_the_deadline_is_total_not_per_read(tmp_path: Path) -> None:
    """A command that keeps printing never resets the deadline."""
    script = "i=0; while [ $i -lt 100 ]; do echo tick; sleep 0.1; i=$((i+1)); done"
    started = time.monotonic()
    with pytest.raises(ProcessTimeout):
        run_process(["sh", "-c", script], timeout_s=1.0, env=dict(os.environ), cwd=tmp_path)
    assert time.monotonic() - started < 1.0 + 3.0


def test_grandchildren_die_with_the_group(tmp_path: Path) -> None:
    marker = f"gitcanary-test-sleeper-{os.getpid()}"
    script = f"exec -a {marker} sleep 60 & sleep 60"
    with pytest.raises(ProcessTimeout):
        run_process(["bash", "-c", script], timeout_s=0.5, env=dict(os.environ), cwd=tmp_path)
    try:
        assert processes_mentioning(marker) == []
    finally:
        kill_leftovers(marker)


def test_a_fast_command_returns_its_status_and_output(tmp_path: Path) -> None:
    done = run_process(["sh", "-c", "echo out; echo err >&2; exit 3"], timeout_s=5, env=dict(os.environ))
    assert (done.status, done.stdout, done.stderr, done.output) == (3, "out", "err", "out\nerr")


def test_no_time_left_starts_nothing() -> None:
    with pytest.raises(ProcessTimeout):
        run_process(["sh", "-c", "exit 0"], timeout_s=0, env=dict(os.environ))


def test_global_system_and_inherited_configuration_is_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a symlinked write into ``$HOME/.gitconfig`` or a stray environment could inject."""
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text("[user]\n\tname = from-home\n")
    global_file = tmp_path / "global.gitconfig"
    global_file.write_text("[user]\n\tname = from-global\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(global_file))
    monkeypatch.delenv("GIT_CONFIG_NOSYSTEM", raising=False)
    monkeypatch.setenv("GIT_CONFIG_PARAMETERS", "'user.name'='from-parameters'")
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "user.name")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", "from-count")
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "elsewhere.git"))

    listed = run_git(["config", "--list", "--show-origin"], timeout_s=10, cwd=tmp_path)
    assert "from-" not in listed.output
    assert run_git(["config", "--get", "user.name"], timeout_s=10, cwd=tmp_path).status == 1
    assert run_git(["config", "--get", "core.symlinks"], timeout_s=10, cwd=tmp_path).stdout == "false"

    env = git_environment({"GIT_TERMINAL_PROMPT": "1", "GIT_CONFIG_GLOBAL": str(global_file)})
    assert env["GIT_CONFIG_GLOBAL"] == "/dev/null" and env["GIT_CONFIG_NOSYSTEM"] == "1"
    assert env["GIT_TERMINAL_PROMPT"] == "0", "the caller cannot turn the hardening off"
    assert not {"GIT_DIR", "GIT_CONFIG_PARAMETERS", "GIT_CONFIG_KEY_0"} & set(env)


def test_per_user_ignore_and_attributes_files_are_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_home = tmp_path / "xdg"
    (config_home / "git").mkdir(parents=True)
    (config_home / "git" / "ignore").write_text("*.yaml\n")
    (config_home / "git" / "attributes").write_text("*.yaml eol=crlf\n")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config_home))
    monkeypatch.setenv("HOME", str(tmp_path))
    assert run_git(["init", "--quiet", str(tmp_path / "repo")], timeout_s=10).status == 0
    repo = tmp_path / "repo"
    assert run_git(["-C", str(repo), "check-ignore", "--", "app.yaml"], timeout_s=10).status == 1
    attributes = run_git(["-C", str(repo), "check-attr", "eol", "--", "app.yaml"], timeout_s=10)
    assert attributes.stdout == "app.yaml: eol: unspecified"


def test_credentials_configuration_from_the_caller_is_kept(tmp_path: Path) -> None:
    extra = {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "http.extraHeader", "GIT_CONFIG_VALUE_0": "X: 1"}
    done = run_git(["config", "--get", "http.extraHeader"], timeout_s=10, env=extra, cwd=tmp_path)
    assert done.stdout == "X: 1"
