"""The Flagger build: its wrapper module, link flags, and ``ensure_flagger`` driven by a stand-in ``go``.

The stand-in is a script on ``PATH`` that answers ``go mod download -json`` with a module whose
go.mod the test writes, and ``go build -o <file>`` by writing that file (or failing, as told). It
records the wrapper's go.mod and go.sum so the test sees what the real go command would read.
"""

from __future__ import annotations

import json
import os
import re
import stat
import textwrap
from pathlib import Path

import pytest

from gitcanary_sandbox import flagger_binary
from gitcanary_sandbox.flagger_binary import (
    FLAGGER_MODULE,
    FLAGGER_REVISION,
    FLAGGER_SUMS,
    FLAGGER_VERSION,
    FlaggerBuildError,
    check_no_replaces,
    ensure_flagger,
    ldflags,
    wrapper_go_mod,
)

FAKE_GO = textwrap.dedent(
    """\
    #!/usr/bin/env python3
    import json, os, pathlib, sys
    state = pathlib.Path(os.environ["FAKE_GO_STATE"])
    args = sys.argv[1:]
    with (state / "calls.log").open("a") as log:
        log.write(" ".join(args) + "\\n")
    if args[:2] == ["mod", "download"]:
        (state / "seen-go.mod").write_text(pathlib.Path("go.mod").read_text())
        (state / "seen-go.sum").write_text(pathlib.Path("go.sum").read_text())
        print(json.dumps({"Path": args[-1].split("@")[0], "GoMod": str(state / "flagger.mod")}))
    elif args[0] == "build":
        if (state / "fail").exists():
            print("cmd/flagger: compile error", file=sys.stderr)
            sys.exit(2)
        out = pathlib.Path(args[args.index("-o") + 1])
        out.write_text("#!/bin/sh\\necho flagger\\n")
    """
)


@pytest.fixture
def fake_go(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bindir, state = tmp_path / "bin", tmp_path / "state"
    bindir.mkdir()
    state.mkdir()
    go = bindir / "go"
    go.write_text(FAKE_GO)
    go.chmod(go.stat().st_mode | stat.S_IEXEC)
    (state / "flagger.mod").write_text(
        f"module {FLAGGER_MODULE}\n\ngo 1.26.0\n\nrequire k8s.io/api v0.36.2\n"
    )
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_GO_STATE", str(state))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return state


def test_wrapper_requires_only_flagger_at_the_release() -> None:
    go_mod = wrapper_go_mod()
    assert f"require {FLAGGER_MODULE} {FLAGGER_VERSION}\n" in go_mod
    assert "replace" not in go_mod


def test_ldflags_stamp_the_release_commit() -> None:
    assert ldflags() == f"-s -w -X {FLAGGER_MODULE}/pkg/version.REVISION={FLAGGER_REVISION}"


def test_a_replace_in_flaggers_go_mod_is_refused_by_name() -> None:
    check_no_replaces("module github.com/fluxcd/flagger\n\nrequire k8s.io/api v0.36.2\n")
    with pytest.raises(FlaggerBuildError, match=re.escape("k8s.io/api => k8s.io/api v0.36.1")):
        check_no_replaces("module m\n\nreplace k8s.io/api => k8s.io/api v0.36.1\n")


def test_ensure_flagger_builds_with_the_pinned_sums_then_uses_the_cache(fake_go: Path) -> None:
    progress: list[str] = []
    binary = ensure_flagger(progress.append)
    assert (
        binary
        == Path(os.environ["XDG_CACHE_HOME"]) / "gitcanary" / f"flagger-{FLAGGER_VERSION}" / "bin" / "flagger"
    )
    assert binary.read_text().startswith("#!/bin/sh")
    assert (fake_go / "seen-go.sum").read_text().splitlines() == list(FLAGGER_SUMS)
    assert (fake_go / "seen-go.mod").read_text() == wrapper_go_mod()
    build = [c for c in (fake_go / "calls.log").read_text().splitlines() if c.startswith("build")]
    assert build and build[0].endswith(f"{FLAGGER_MODULE}/cmd/flagger")
    assert set(json.loads((binary.parent.parent / "build-time.json").read_text())) == {"flagger"}
    calls = (fake_go / "calls.log").read_text()
    assert ensure_flagger(progress.append) == binary
    assert (fake_go / "calls.log").read_text() == calls, "a cached binary is never rebuilt"


def test_a_failed_build_names_the_reason_and_leaves_no_binary(fake_go: Path) -> None:
    (fake_go / "fail").touch()
    with pytest.raises(FlaggerBuildError, match="compile error"):
        ensure_flagger(lambda _: None)
    assert not flagger_binary.flagger_path().exists()


def test_a_module_with_replaces_is_not_built(fake_go: Path) -> None:
    (fake_go / "flagger.mod").write_text(f"module {FLAGGER_MODULE}\n\nreplace a => b v1.0.0\n")
    with pytest.raises(FlaggerBuildError, match="replace"):
        ensure_flagger(lambda _: None)
    assert "build" not in (fake_go / "calls.log").read_text()
