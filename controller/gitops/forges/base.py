"""The forge port: open, adopt, read and comment on promotion pull requests.

A forge (GitHub, GitLab, Gitea) is reached through its REST API with raw httpx. This module
holds what every adapter shares: the :class:`Forge` Protocol (three methods), the value
types :class:`RepoRef` and :class:`PullRequest`, and the :class:`ForgeError` hierarchy.
:mod:`controller.gitops.forges.factory` is the only module that knows every adapter
(:func:`~controller.gitops.forges.factory.forge_for`).

Invariants:
- A token is never part of a ``repr``, an exception message or a log line: adapters keep it
  in a ``repr=False`` field and every error text is passed through
  :func:`controller.gitops.plumbing.credentials.redact` before it is raised.
- :class:`RepoRef` is parsed from the Git remote the Flux GitRepository points at (https,
  http, ``ssh://`` or scp-like ``git@host:path``); the path keeps every segment, so GitLab
  subgroups (``group/sub/project``) survive.
- The API base URL is, in order: ``RepoRef.api_url``, the adapter's own ``api_url`` (from
  ``forge_for``), then the forge's convention for the remote's host (:func:`default_api_url`).
- ``PullRequest.state`` is ``merged`` only when the forge says the change was merged;
  ``closed`` always means closed without merging.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, Protocol, get_args
from urllib.parse import urlsplit

from controller.errors import TemporaryError

Provider = Literal["github", "gitlab", "gitea"]
PullRequestState = Literal["open", "merged", "closed"]

PROVIDERS: tuple[Provider, ...] = get_args(Provider)
_SCP_LIKE = re.compile(r"^(?:[^@/\s]+@)?(?P<host>[^:/\s]+):(?P<path>[^\s]+)$")


class ForgeError(TemporaryError):
    """A forge API call failed (temporary: the gate or the proposal asks the forge again later).

    ``retriable`` is True for rate limiting, 5xx answers, timeouts and connection errors:
    the caller should try again later (after ``retry_after`` seconds when the forge said so).
    ``status`` is the HTTP status, or None when no answer arrived.
    """

    def __init__(
        self,
        message: str,
        *,
        retriable: bool,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retriable = retriable
        self.status = status
        self.retry_after = retry_after


class RemoteURLError(ValueError):
    """A Git remote URL names no forge repository (no host, or fewer than two path segments)."""


@dataclass(frozen=True)
class RepoRef:
    """A repository on a forge.

    ``path`` is the full repository path without ``.git`` (``org/repo``, or
    ``group/sub/project`` on GitLab). ``scheme`` is the web scheme (``https`` for ssh
    remotes, ``http`` only when the remote itself is plain http). ``port`` is the web port
    of an http(s) remote, if any; an ssh port is dropped since the API never lives there.
    ``api_url`` overrides the API base (e.g. ``https://ghe.example.com/api/v3``).
    """

    host: str
    path: str
    scheme: str = "https"
    port: int | None = None
    api_url: str | None = None

    @property
    def owner(self) -> str:
        """Everything before the last path segment (the GitLab namespace, with subgroups)."""
        return self.path.rsplit("/", 1)[0]

    @property
    def name(self) -> str:
        """The last path segment."""
        return self.path.rsplit("/", 1)[1]

    @property
    def web_root(self) -> str:
        """``scheme://host[:port]`` of the forge's web UI."""
        port = f":{self.port}" if self.port is not None else ""
        return f"{self.scheme}://{self.host}{port}"

    @classmethod
    def parse(cls, remote_url: str, api_url: str | None = None) -> RepoRef:
        """Parse an https/http/ssh/scp-like Git remote URL."""
        url = remote_url.strip()
        try:
            parts = urlsplit(url)
        except ValueError as error:  # e.g. an unclosed IPv6 bracket
            raise RemoteURLError(f"remote URL is malformed ({error})") from None
        if "://" in url:
            scheme = parts.scheme.lower()
            if scheme not in ("http", "https", "ssh", "git+ssh", "ssh+git", "git"):
                raise RemoteURLError(f"unsupported remote URL scheme {scheme!r}")
            host = parts.hostname or ""
            web_scheme = scheme if scheme in ("http", "https") else "https"
            try:
                port = parts.port if web_scheme == scheme else None
            except ValueError as error:
                raise RemoteURLError("remote URL has an invalid port") from error
            path = parts.path
        else:
            match = _SCP_LIKE.match(url)
            if match is None:
                raise RemoteURLError("remote URL is neither a URL nor scp-like user@host:path")
            host, path, web_scheme, port = match["host"], match["path"], "https", None
        segments = [segment for segment in path.strip("/").split("/") if segment]
        if segments and segments[-1].endswith(".git"):
            segments[-1] = segments[-1][: -len(".git")]
        if not host or len(segments) < 2 or not all(segments):
            raise RemoteURLError("remote URL must name a host and an owner/repository path")
        return cls(
            host=host.lower(),
            path="/".join(segments),
            scheme=web_scheme,
            port=port,
            api_url=api_url.rstrip("/") if api_url else None,
        )


def default_api_url(provider: Provider, repo: RepoRef) -> str:
    """The conventional API base for a repository's host.

    github.com uses ``https://api.github.com``; GitHub Enterprise ``/api/v3``; GitLab
    ``/api/v4``; Gitea ``/api/v1``.
    """
    if provider == "github":
        if repo.host in ("github.com", "www.github.com"):
            return "https://api.github.com"
        return f"{repo.web_root}/api/v3"
    if provider == "gitlab":
        return f"{repo.web_root}/api/v4"
    return f"{repo.web_root}/api/v1"


def pull_request_number(value: object, provider: str) -> int:
    """A pull request number from a forge answer; ForgeError when it is no positive integer."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ForgeError(f"{provider}: the pull request number is not a positive integer", retriable=False)
    return value


@dataclass(frozen=True)
class PullRequest:
    """A pull (merge) request as gitcanary needs it.

    ``number`` is the per-repository number (GitLab's ``iid``); ``url`` the web page.
    ``merge_commit_sha`` is set only once merged (GitLab: the squash commit when there is
    no merge commit; None for a fast-forward merge).
    """

    number: int
    url: str
    state: PullRequestState
    head: str
    base: str
    merge_commit_sha: str | None = None


class Forge(Protocol):
    """Pull requests on one forge. Every call has a timeout and may raise :class:`ForgeError`."""

    async def open_or_adopt(self, repo: RepoRef, head: str, base: str, title: str, body: str) -> PullRequest:
        """Adopt the open PR from ``head`` into ``base`` (its body updated), else create one."""
        ...

    async def get(self, repo: RepoRef, number: int) -> PullRequest:
        """The PR's current state."""
        ...

    async def comment(self, repo: RepoRef, number: int, body: str) -> None:
        """Add a comment to the PR's conversation."""
        ...
