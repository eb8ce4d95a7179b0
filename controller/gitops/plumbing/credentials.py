"""Git credentials from a Flux GitRepository secret, handed to git without leaking them.

Supported secret keys (Flux's conventions, values already base64-decoded):
- HTTPS basic: ``username`` + ``password``; HTTPS bearer: ``bearerToken``;
- SSH: ``identity`` (private key), ``known_hosts``, optional ``identity.pub``;
- commit signing (:class:`SigningKey`): ``git.asc`` (+ ``passphrase``) for OpenPGP, or
  ``signing.key`` / ``identity`` for SSH signing.

Invariants:
- Secrets never appear in argv or in a URL. Files holding them are created ``0600`` inside
  a private ``0700`` directory, and that directory is removed when the context exits.
  Basic auth goes through a ``GIT_ASKPASS`` script that ``cat``s those files; a bearer token
  goes through ``GIT_CONFIG_*`` environment variables (``http.extraHeader``).
- Every message that may echo git output passes through :func:`redact` first.
- A :class:`GitAuth` is re-entrant and shareable: nested or concurrent ``with`` blocks share
  one directory, removed when the last one exits.

Caveat: passphrase-protected SSH identities are refused (``BatchMode=yes`` cannot prompt).
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import shutil
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Literal
from urllib.parse import quote, urlsplit

from controller.errors import PermanentError
from controller.gitops.plumbing.gitproc import ProcessTimeout, run_process

__all__ = [
    "CommitSigning",
    "CredentialsError",
    "GitAuth",
    "SigningKey",
    "decode_secret_data",
    "is_ssh_url",
    "redact",
]

log = logging.getLogger(__name__)

REDACTED = "***"
SUBPROCESS_TIMEOUT_S = 30.0
"""Total deadline for each local helper (gpg, gpgconf) run while preparing signing; its whole
process group is killed when it passes (:func:`controller.gitops.plumbing.gitproc.run_process`)."""


class CredentialsError(PermanentError, ValueError):
    """The secret lacks the keys needed for the repository's transport, or is malformed."""


def decode_secret_data(data: Mapping[str, bytes | str]) -> dict[str, str]:
    """Values as text (UTF-8); the mapping is a Secret's ``data`` after base64 decoding."""
    decoded: dict[str, str] = {}
    for key, value in data.items():
        try:
            decoded[key] = value.decode("utf-8") if isinstance(value, bytes) else value
        except UnicodeDecodeError as exc:
            raise CredentialsError(f"secret key {key!r} is not UTF-8 text") from exc
    return decoded


def is_ssh_url(url: str) -> bool:
    """``ssh://...`` or scp-like ``user@host:path``."""
    scheme = urlsplit(url).scheme.lower()
    if scheme:
        return scheme in ("ssh", "git+ssh", "ssh+git")
    return ":" in url and not url.startswith(("/", "."))


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every secret (and its URL-encoded form) and URL userinfo in ``text``.

    Multi-line secrets (keys) are also redacted line by line for lines of 16+ characters.
    """
    needles: set[str] = set()
    for secret in secrets:
        if not secret or len(secret.strip()) < 4:
            continue
        needles.update({secret, secret.strip(), quote(secret, safe="")})
        needles.update(line.strip() for line in secret.splitlines() if len(line.strip()) >= 16)
    for needle in sorted(needles, key=len, reverse=True):
        text = text.replace(needle, REDACTED)
    return _strip_userinfo(text)


def _strip_userinfo(text: str) -> str:
    return re.sub(r"(\b[A-Za-z][A-Za-z0-9+.\-]*://)[^/\s@]+@", r"\1", text)


def _write_private(path: Path, content: str, mode: int = 0o600) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(content)
    os.chmod(path, mode)  # umask may have narrowed it; never widen beyond `mode`
    return path


Transport = Literal["basic", "bearer", "ssh"]


@dataclass(frozen=True)
class _Material:
    transport: Transport
    username: str = ""
    password: str = field(default="", repr=False)
    bearer_token: str = field(default="", repr=False)
    identity: str = field(default="", repr=False)
    known_hosts: str = ""
    identity_pub: str = ""


class GitAuth:
    """Credentials for one repository; ``with auth as env:`` yields git's environment."""

    def __init__(
        self,
        *,
        username: str = "",
        password: str = "",
        bearer_token: str = "",
        identity: str = "",
        known_hosts: str = "",
        identity_pub: str = "",
        tmp_root: str | None = None,
    ) -> None:
        if identity:
            if not known_hosts.strip():
                raise CredentialsError("SSH credentials need 'known_hosts' (host keys are always checked)")
            if "ENCRYPTED" in identity:  # PEM "Proc-Type: 4,ENCRYPTED" / "BEGIN ENCRYPTED PRIVATE KEY"
                raise CredentialsError("passphrase-protected SSH identities are not supported")
            self._material = _Material(
                "ssh", identity=identity, known_hosts=known_hosts, identity_pub=identity_pub
            )
        elif bearer_token:
            self._material = _Material("bearer", bearer_token=bearer_token.strip())
        elif username and password:
            self._material = _Material("basic", username=username, password=password)
        else:
            raise CredentialsError("secret needs username+password, bearerToken, or identity+known_hosts")
        self._tmp_root = tmp_root
        self._lock = threading.Lock()
        self._users = 0
        self._dir: Path | None = None
        self._env: dict[str, str] = {}

    @classmethod
    def from_secret_data(
        cls, data: Mapping[str, bytes | str], url: str | None = None, *, tmp_root: str | None = None
    ) -> GitAuth:
        """Pick the credentials matching ``url``'s transport (any, when ``url`` is None)."""
        values = decode_secret_data(data)
        ssh = is_ssh_url(url) if url is not None else bool(values.get("identity"))
        if ssh:
            if not values.get("identity"):
                raise CredentialsError("SSH repository URL but the secret has no 'identity'")
            if values.get("password"):
                raise CredentialsError("passphrase-protected SSH identities are not supported")
            return cls(
                identity=values["identity"],
                known_hosts=values.get("known_hosts", ""),
                identity_pub=values.get("identity.pub", ""),
                tmp_root=tmp_root,
            )
        if values.get("bearerToken"):
            return cls(bearer_token=values["bearerToken"], tmp_root=tmp_root)
        if values.get("username") and values.get("password"):
            return cls(username=values["username"], password=values["password"], tmp_root=tmp_root)
        raise CredentialsError("HTTPS repository needs 'username'+'password' or 'bearerToken' in the secret")

    @property
    def transport(self) -> Transport:
        return self._material.transport

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values to pass to :func:`redact`."""
        m = self._material
        return tuple(s for s in (m.password, m.bearer_token, m.identity) if s)

    @property
    def env(self) -> dict[str, str]:
        """The environment for git; only valid inside the ``with`` block."""
        if self._dir is None:
            raise RuntimeError("GitAuth.env used outside its 'with' block")
        return dict(self._env)

    @property
    def directory(self) -> Path | None:
        """The private directory holding the secret files while entered."""
        return self._dir

    def __enter__(self) -> dict[str, str]:
        with self._lock:
            if self._users == 0:
                self._dir = Path(tempfile.mkdtemp(prefix="gitcanary-auth-", dir=self._tmp_root))
                os.chmod(self._dir, 0o700)
                try:
                    self._env = self._materialise(self._dir)
                except BaseException:
                    shutil.rmtree(self._dir, ignore_errors=True)
                    self._dir = None
                    raise
            self._users += 1
            return dict(self._env)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        with self._lock:
            self._users -= 1
            if self._users == 0 and self._dir is not None:
                shutil.rmtree(self._dir, ignore_errors=True)
                self._dir = None
                self._env = {}

    def _materialise(self, directory: Path) -> dict[str, str]:
        m = self._material
        env = {"GIT_TERMINAL_PROMPT": "0", "GCM_INTERACTIVE": "never"}
        if m.transport == "ssh":
            key = _write_private(directory / "identity", m.identity.rstrip("\n") + "\n")
            hosts = _write_private(directory / "known_hosts", m.known_hosts.rstrip("\n") + "\n")
            if m.identity_pub:
                _write_private(directory / "identity.pub", m.identity_pub.rstrip("\n") + "\n")
            env["GIT_SSH_COMMAND"] = " ".join(
                [
                    "ssh",
                    f"-i {shlex.quote(str(key))}",
                    f"-o UserKnownHostsFile={shlex.quote(str(hosts))}",
                    "-o StrictHostKeyChecking=yes",
                    "-o IdentitiesOnly=yes",
                    "-o BatchMode=yes",
                ]
            )
            env["GIT_SSH_VARIANT"] = "ssh"
            return env
        # An empty credential.helper resets the helper list, so no stored or cached
        # credential is used or written: the askpass script / header is the only source.
        config = [("credential.helper", "")]
        if m.transport == "bearer":
            config.append(("http.extraHeader", f"Authorization: Bearer {m.bearer_token}"))
        else:
            user_file = _write_private(directory / "username", m.username)
            pass_file = _write_private(directory / "password", m.password)
            script = (
                "#!/bin/sh\n"
                "# gitcanary askpass: answers git's prompts from 0600 files, never from argv.\n"
                'case "$1" in\n'
                f"  [Uu]sername*) exec cat -- {shlex.quote(str(user_file))} ;;\n"
                f"  *) exec cat -- {shlex.quote(str(pass_file))} ;;\n"
                "esac\n"
            )
            env["GIT_ASKPASS"] = str(_write_private(directory / "askpass.sh", script, 0o700))
        env["GIT_CONFIG_COUNT"] = str(len(config))
        for index, (key_name, value) in enumerate(config):
            env[f"GIT_CONFIG_KEY_{index}"] = key_name
            env[f"GIT_CONFIG_VALUE_{index}"] = value
        return env


SigningFormat = Literal["ssh", "openpgp"]


@dataclass(frozen=True)
class SigningKey:
    """A private key that signs write-back commits."""

    format: SigningFormat
    private_key: str = field(repr=False)
    passphrase: str = field(default="", repr=False)

    @classmethod
    def from_secret_data(cls, data: Mapping[str, bytes | str]) -> SigningKey:
        """``git.asc`` (+ ``passphrase``): OpenPGP, as Flux; ``signing.key``/``identity``: SSH."""
        values = decode_secret_data(data)
        if values.get("git.asc"):
            return cls("openpgp", values["git.asc"], values.get("passphrase", ""))
        for key in ("signing.key", "identity"):
            if values.get(key):
                if values.get("passphrase") or values.get("password"):
                    raise CredentialsError("passphrase-protected SSH signing keys are not supported")
                return cls("ssh", values[key])
        raise CredentialsError("signing secret needs 'git.asc' (OpenPGP) or 'signing.key' (SSH)")


@dataclass(frozen=True)
class CommitSigning:
    """What ``git commit -S`` needs: ``-c`` settings (no secrets) and environment."""

    config: tuple[tuple[str, str], ...]
    env: Mapping[str, str]
    secrets: tuple[str, ...]

    @staticmethod
    @contextmanager
    def prepare(key: SigningKey, tmp_root: str | None = None) -> Iterator[CommitSigning]:
        """Materialise ``key`` in a private directory for the duration of the block."""
        directory = Path(tempfile.mkdtemp(prefix="gitcanary-sign-", dir=tmp_root))
        os.chmod(directory, 0o700)
        secrets = tuple(s for s in (key.private_key, key.passphrase) if s)
        gnupghome: Path | None = None
        try:
            if key.format == "ssh":
                key_file = _write_private(directory / "signing_key", key.private_key.rstrip("\n") + "\n")
                config: tuple[tuple[str, str], ...] = (
                    ("gpg.format", "ssh"),
                    ("user.signingkey", str(key_file)),
                )
                yield CommitSigning(config=config, env={}, secrets=secrets)
                return
            gnupghome = directory / "gnupg"
            gnupghome.mkdir(mode=0o700)
            env = {"GNUPGHOME": str(gnupghome)}
            fingerprint = _import_openpgp_key(directory, key, env)
            program = "gpg"
            if key.passphrase:
                pass_file = _write_private(directory / "passphrase", key.passphrase)
                program = str(
                    _write_private(
                        directory / "gpg-loopback.sh",
                        "#!/bin/sh\nexec gpg --batch --pinentry-mode loopback "
                        f'--passphrase-file {shlex.quote(str(pass_file))} "$@"\n',
                        0o700,
                    )
                )
            config = (("gpg.format", "openpgp"), ("gpg.program", program), ("user.signingkey", fingerprint))
            yield CommitSigning(config=config, env=env, secrets=secrets)
        finally:
            if gnupghome is not None and shutil.which("gpgconf"):
                try:
                    run_process(
                        ["gpgconf", "--kill", "all"],
                        env={**os.environ, "GNUPGHOME": str(gnupghome)},
                        timeout_s=SUBPROCESS_TIMEOUT_S,
                    )
                except ProcessTimeout as exc:
                    log.warning(
                        "stopping the signing gpg-agent failed (%s); it may outlive %s", exc, gnupghome
                    )
            shutil.rmtree(directory, ignore_errors=True)


def _import_openpgp_key(directory: Path, key: SigningKey, env: Mapping[str, str]) -> str:
    if shutil.which("gpg") is None:
        raise CredentialsError("OpenPGP signing requested but 'gpg' is not installed")
    key_file = _write_private(directory / "git.asc", key.private_key)
    full_env = {**os.environ, **env}
    argv = ["gpg", "--batch", "--yes"]
    if key.passphrase:
        pass_file = directory / "import-passphrase"
        _write_private(pass_file, key.passphrase)
        argv += ["--pinentry-mode", "loopback", "--passphrase-file", str(pass_file)]
    try:
        imported = run_process(
            [*argv, "--import", str(key_file)], env=full_env, timeout_s=SUBPROCESS_TIMEOUT_S
        )
        if imported.status != 0:
            secrets = [key.private_key, key.passphrase]
            raise CredentialsError(
                f"gpg could not import the signing key: {redact(imported.stderr, secrets)}"
            )
        listed = run_process(
            ["gpg", "--batch", "--with-colons", "--list-secret-keys"],
            env=full_env,
            timeout_s=SUBPROCESS_TIMEOUT_S,
        )
    except ProcessTimeout as exc:
        raise CredentialsError(f"preparing the OpenPGP signing key failed: {exc}") from None
    for line in listed.stdout.splitlines():
        parts = line.split(":")
        if parts[0] == "fpr" and len(parts) > 9 and parts[9]:
            return parts[9]
    raise CredentialsError("the OpenPGP signing secret holds no secret key")
