"""Credential materialisation: file modes, environments git really accepts, redaction."""

from __future__ import annotations

import os
import shlex
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from controller.gitops.plumbing.credentials import (
    CommitSigning,
    CredentialsError,
    GitAuth,
    SigningKey,
    is_ssh_url,
    redact,
)

PASSWORD = "s3cr3t-p@ss/word"
TOKEN = "glpat-0123456789abcdefghij"
IDENTITY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n-----END OPENSSH PRIVATE KEY-----"
KNOWN_HOSTS = (
    "[127.0.0.1]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
)


@pytest.fixture(autouse=True)
def hermetic_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "global.gitconfig"
    config.write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def git_with(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args], input=stdin, env={**os.environ, **env}, capture_output=True, text=True, timeout=30
    )


def test_basic_auth_answers_git_through_askpass_only(tmp_path: Path) -> None:
    auth = GitAuth.from_secret_data(
        {"username": b"bot", "password": PASSWORD.encode()}, "https://git.example.com/org/repo.git"
    )
    assert auth.transport == "basic" and auth.secrets == (PASSWORD,)
    with auth as env:
        directory = auth.directory
        assert directory is not None and mode(directory) == 0o700
        assert mode(directory / "password") == 0o600 and mode(directory / "username") == 0o600
        askpass = Path(env["GIT_ASKPASS"])
        assert askpass.parent == directory and mode(askpass) == 0o700
        assert env["GIT_TERMINAL_PROMPT"] == "0"
        assert all(PASSWORD not in value for value in env.values())
        assert PASSWORD not in askpass.read_text()
        # git's own credential machinery must get the values from the askpass script.
        filled = git_with(env, "credential", "fill", stdin="protocol=https\nhost=git.example.com\n\n")
        assert filled.returncode == 0, filled.stderr
        assert "username=bot" in filled.stdout.splitlines()
        assert f"password={PASSWORD}" in filled.stdout.splitlines()
        # no credential helper may store or supply anything else
        assert git_with(env, "config", "--get-all", "credential.helper").stdout == "\n"
    assert not directory.exists()
    with pytest.raises(RuntimeError):
        _ = auth.env


def test_bearer_token_travels_in_git_config_environment() -> None:
    auth = GitAuth.from_secret_data({"bearerToken": TOKEN + "\n"}, "https://git.example.com/r.git")
    assert auth.transport == "bearer"
    with auth as env:
        assert "GIT_ASKPASS" not in env
        header = git_with(env, "config", "--get-all", "http.extraHeader")
        assert header.stdout.strip() == f"Authorization: Bearer {TOKEN}"
        assert auth.directory is not None and list(auth.directory.iterdir()) == []


def test_ssh_identity_files_and_command(tmp_path: Path) -> None:
    auth = GitAuth.from_secret_data(
        {"identity": IDENTITY, "known_hosts": KNOWN_HOSTS, "identity.pub": "ssh-ed25519 AAAA test"},
        "ssh://git@127.0.0.1:2222/repo.git",
    )
    assert auth.transport == "ssh"
    with auth as env:
        directory = auth.directory
        assert directory is not None
        for name in ("identity", "known_hosts", "identity.pub"):
            assert mode(directory / name) == 0o600
        assert (directory / "identity").read_text() == IDENTITY + "\n"
        argv = shlex.split(env["GIT_SSH_COMMAND"])
        assert argv[:3] == ["ssh", "-i", str(directory / "identity")]
        assert IDENTITY not in env["GIT_SSH_COMMAND"]
        if shutil.which("ssh"):
            effective = subprocess.run(
                [*argv, "-G", "-p", "2222", "127.0.0.1"],
                capture_output=True,
                text=True,
                timeout=30,
                check=True,
            ).stdout.splitlines()
            assert f"identityfile {directory / 'identity'}" in effective
            assert f"userknownhostsfile {directory / 'known_hosts'}" in effective
            assert {"stricthostkeychecking true", "identitiesonly yes", "batchmode yes"} <= set(effective)
    assert not directory.exists()


def test_scp_like_urls_select_ssh() -> None:
    auth = GitAuth.from_secret_data(
        {"identity": IDENTITY, "known_hosts": KNOWN_HOSTS, "bearerToken": TOKEN},
        "git@github.com:org/repo.git",
    )
    assert auth.transport == "ssh"


@pytest.mark.parametrize(
    ("data", "url", "match"),
    [
        ({"username": "bot", "password": "pw"}, "ssh://git@example.com/r.git", "identity"),
        ({"identity": IDENTITY}, "ssh://git@example.com/r.git", "known_hosts"),
        ({"identity": IDENTITY, "known_hosts": KNOWN_HOSTS, "password": "pp"}, "ssh://h/r.git", "passphrase"),
        (
            {"identity": "-----BEGIN ENCRYPTED PRIVATE KEY-----", "known_hosts": KNOWN_HOSTS},
            None,
            "passphrase",
        ),
        ({"username": "bot"}, "https://example.com/r.git", "username"),
        ({}, None, "needs 'username'"),
        ({"password": b"\xff\xfe"}, None, "UTF-8"),
    ],
)
def test_incomplete_or_unsupported_secrets_are_refused(
    data: dict[str, str | bytes], url: str | None, match: str
) -> None:
    with pytest.raises(CredentialsError, match=match):
        GitAuth.from_secret_data(data, url)


def test_auth_is_reentrant_and_shared() -> None:
    auth = GitAuth(username="bot", password=PASSWORD)
    with auth as outer:
        with auth as inner:
            assert inner == outer
        assert auth.directory is not None and auth.directory.exists()
        directory = auth.directory
    assert not directory.exists()
    with auth as again:
        assert again["GIT_ASKPASS"] != outer["GIT_ASKPASS"]


def test_tmp_root_is_honoured(tmp_path: Path) -> None:
    with GitAuth(bearer_token=TOKEN, tmp_root=str(tmp_path)):
        pass
    auth = GitAuth(bearer_token=TOKEN, tmp_root=str(tmp_path))
    with auth:
        assert auth.directory is not None and auth.directory.parent == tmp_path


@pytest.mark.parametrize(
    ("url", "ssh"),
    [
        ("ssh://git@host/repo", True),
        ("git@github.com:org/repo.git", True),
        ("https://github.com/org/repo", False),
        ("http://127.0.0.1:8080/repo.git", False),
        ("file:///tmp/repo.git", False),
        ("/srv/git/repo.git", False),
    ],
)
def test_is_ssh_url(url: str, ssh: bool) -> None:
    assert is_ssh_url(url) is ssh


def test_redact_hides_secrets_in_every_form() -> None:
    text = (
        f"fatal: auth failed for https://bot:{PASSWORD}@git.example.com/r.git "
        f"(sent {PASSWORD.replace('@', '%40').replace('/', '%2F')}) header Bearer {TOKEN}\n"
        "key line b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ leaked"
    )
    cleaned = redact(text, [PASSWORD, TOKEN, IDENTITY, ""])
    assert PASSWORD not in cleaned and "s3cr3t" not in cleaned
    assert TOKEN not in cleaned and "b3BlbnNzaC1rZXkt" not in cleaned
    assert "bot:" not in cleaned and "https://git.example.com/r.git" in cleaned
    assert cleaned.count("***") >= 3


def test_redact_leaves_clean_text_alone_and_ignores_tiny_secrets() -> None:
    assert redact("everything up-to-date", ["ab", ""]) == "everything up-to-date"


def test_signing_key_from_secret_data() -> None:
    assert SigningKey.from_secret_data({"git.asc": b"ARMORED", "passphrase": b"pp"}) == SigningKey(
        "openpgp", "ARMORED", "pp"
    )
    assert SigningKey.from_secret_data({"signing.key": IDENTITY}).format == "ssh"
    assert SigningKey.from_secret_data({"identity": IDENTITY}).format == "ssh"
    with pytest.raises(CredentialsError):
        SigningKey.from_secret_data({"identity": IDENTITY, "passphrase": "pp"})
    with pytest.raises(CredentialsError):
        SigningKey.from_secret_data({})
    assert "ARMORED" not in repr(SigningKey("openpgp", "ARMORED"))


def test_ssh_commit_signing_materialises_a_private_key_file() -> None:
    with CommitSigning.prepare(SigningKey("ssh", IDENTITY)) as signing:
        settings = dict(signing.config)
        key_file = Path(settings["user.signingkey"])
        assert settings["gpg.format"] == "ssh"
        assert mode(key_file) == 0o600 and mode(key_file.parent) == 0o700
        assert key_file.read_text() == IDENTITY + "\n"
        assert signing.secrets == (IDENTITY,)
    assert not key_file.exists() and not key_file.parent.exists()


def test_openpgp_signing_rejects_garbage_keys_without_echoing_them() -> None:
    if shutil.which("gpg") is None:
        pytest.fail("gpg is not installed: scripts/bootstrap.sh installs Debian's gnupg")
    garbage = (
        "-----BEGIN PGP PRIVATE KEY BLOCK-----\nnot-a-key-but-a-secret\n-----END PGP PRIVATE KEY BLOCK-----"
    )
    with pytest.raises(CredentialsError) as caught, CommitSigning.prepare(SigningKey("openpgp", garbage)):
        pass
    assert "not-a-key-but-a-secret" not in str(caught.value)
