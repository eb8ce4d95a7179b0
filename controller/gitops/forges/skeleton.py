"""The skeleton the REST forges share: client, open-or-adopt, get and comment.

A forge subclasses :class:`RestForge` and gives only what differs: its name, its auth headers,
where its pull (merge) requests and comments live, the create payload, the status a create gets
when one already exists (GitHub 422, GitLab and Gitea 409), how it finds the open one for a
branch, and how it reads one.

Invariant owned here: ``open_or_adopt`` never opens a second pull request for the same head and
base. It adopts the open one (updating its description), and when a create loses a race to
another writer (the "already exists" status) it looks again and adopts that one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from controller.gitops.forges.base import (
    ForgeError,
    Provider,
    PullRequest,
    PullRequestState,
    RepoRef,
    default_api_url,
    pull_request_number,
)
from controller.gitops.forges.rest import DEFAULT_TIMEOUT, RestClient


@dataclass(frozen=True)
class RestForge(ABC):
    """Base of the forge adapters; ``api_url`` overrides the default for repositories without one."""

    token: str = field(repr=False)
    api_url: str | None = None
    timeout: httpx.Timeout = field(default_factory=lambda: DEFAULT_TIMEOUT)

    provider: ClassVar[Provider]
    exists_status: ClassVar[int]
    """What a create answers when a pull request for that head and base is already open."""
    update_method: ClassVar[str] = "PATCH"
    description_field: ClassVar[str] = "body"

    @abstractmethod
    def headers(self) -> dict[str, str]:
        """The authentication (and media type) headers."""

    @abstractmethod
    def pulls_path(self, repo: RepoRef) -> str:
        """The collection of pull (merge) requests; ``<path>/<number>`` is one of them."""

    @abstractmethod
    def comment_path(self, repo: RepoRef, number: int) -> str:
        """Where a comment on pull request ``number`` is posted."""

    @abstractmethod
    def create_payload(self, head: str, base: str, title: str, body: str) -> dict[str, Any]:
        """The body that opens a pull request."""

    @abstractmethod
    async def find_open(self, client: RestClient, repo: RepoRef, head: str, base: str) -> int | None:
        """The number of the open pull request from ``head`` into ``base``, if any."""

    @abstractmethod
    def parse(self, item: Any) -> PullRequest:
        """A pull request from the forge's JSON; ``ForgeError`` when it is not one."""

    def client(self, repo: RepoRef) -> RestClient:
        base = repo.api_url or self.api_url or default_api_url(self.provider, repo)
        return RestClient(self.provider, base, self.headers(), self.token, self.timeout)

    async def open_or_adopt(self, repo: RepoRef, head: str, base: str, title: str, body: str) -> PullRequest:
        client = self.client(repo)
        existing = await self.find_open(client, repo, head, base)
        if existing is None:
            try:
                answer = await client.call(
                    "POST", self.pulls_path(repo), body=self.create_payload(head, base, title, body)
                )
                return self.parse(answer)
            except ForgeError as error:
                if error.status != self.exists_status:
                    raise
                existing = await self.find_open(client, repo, head, base)
                if existing is None:
                    raise
        answer = await client.call(
            self.update_method, f"{self.pulls_path(repo)}/{existing}", body={self.description_field: body}
        )
        return self.parse(answer)

    async def get(self, repo: RepoRef, number: int) -> PullRequest:
        return self.parse(await self.client(repo).call("GET", f"{self.pulls_path(repo)}/{int(number)}"))

    async def comment(self, repo: RepoRef, number: int, body: str) -> None:
        await self.client(repo).call("POST", self.comment_path(repo, number), body={"body": body})


@dataclass(frozen=True)
class ReposPullsForge(RestForge):
    """The GitHub-style layout Gitea shares: ``/repos/{owner}/{name}/pulls`` and comments on
    ``/repos/{owner}/{name}/issues/{number}/comments``, created with title/head/base/body."""

    def repo_path(self, repo: RepoRef) -> str:
        return f"/repos/{quote(repo.owner, safe='')}/{quote(repo.name, safe='')}"

    def pulls_path(self, repo: RepoRef) -> str:
        return f"{self.repo_path(repo)}/pulls"

    def comment_path(self, repo: RepoRef, number: int) -> str:
        return f"{self.repo_path(repo)}/issues/{int(number)}/comments"

    def create_payload(self, head: str, base: str, title: str, body: str) -> dict[str, Any]:
        return {"title": title, "head": head, "base": base, "body": body}

    def merged(self, item: dict[str, Any]) -> bool:
        """Whether the pull request was merged (default: its ``merged`` flag)."""
        return bool(item.get("merged"))

    def parse(self, item: Any) -> PullRequest:
        if not isinstance(item, dict) or "number" not in item:
            raise ForgeError(f"{self.provider}: the answer is not a pull request", retriable=False)
        merged = self.merged(item)
        state: PullRequestState = "merged" if merged else "open" if item.get("state") == "open" else "closed"
        sha = item.get("merge_commit_sha") if merged else None
        return PullRequest(
            number=pull_request_number(item.get("number"), self.provider),
            url=str(item.get("html_url") or ""),
            state=state,
            head=branch_ref(item, "head") or "",
            base=branch_ref(item, "base") or "",
            merge_commit_sha=str(sha) if sha else None,
        )


def branch_ref(item: Any, side: str) -> str | None:
    """``item[side]["ref"]`` of a GitHub-style pull request (``head`` or ``base``), if present."""
    branch = item.get(side) if isinstance(item, dict) else None
    return str(branch["ref"]) if isinstance(branch, dict) and "ref" in branch else None
