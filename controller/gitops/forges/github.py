"""GitHub (and GitHub Enterprise Server) pull requests over the REST API.

Endpoints: ``GET/POST /repos/{owner}/{repo}/pulls``, ``GET/PATCH .../pulls/{number}`` and
``POST .../issues/{number}/comments`` (PR conversation comments are issue comments).
Headers: ``Authorization: Bearer``, ``Accept: application/vnd.github+json`` and
``X-GitHub-Api-Version``.

Invariants:
- The open PR for a branch is found with ``head=<owner>:<branch>&base=<base>&state=open``
  (first page, ``per_page=100``); the head owner is the repository owner (same-repo PRs).
- ``merged`` (single-PR answers) or ``merged_at`` (list answers) decides ``merged``;
  ``merge_commit_sha`` is reported only for merged PRs, since GitHub also fills it with the
  test-merge commit of open PRs.
- A create answered 422 (a PR for that head already exists, e.g. created concurrently)
  falls back to adopting the existing PR.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from controller.gitops.forges.base import (
    ForgeError,
    PullRequest,
    PullRequestState,
    RepoRef,
    default_api_url,
    pull_request_number,
)
from controller.gitops.forges.rest import DEFAULT_TIMEOUT, RestClient

API_VERSION = "2022-11-28"
MEDIA_TYPE = "application/vnd.github+json"


@dataclass(frozen=True)
class GitHubForge:
    """The GitHub adapter; ``api_url`` overrides the default for repositories without one."""

    token: str = field(repr=False)
    api_url: str | None = None
    timeout: httpx.Timeout = field(default_factory=lambda: DEFAULT_TIMEOUT)

    def _client(self, repo: RepoRef) -> RestClient:
        base = repo.api_url or self.api_url or default_api_url("github", repo)
        headers = {
            "Authorization": f"Bearer {self.token}",
            "Accept": MEDIA_TYPE,
            "X-GitHub-Api-Version": API_VERSION,
        }
        return RestClient("github", base, headers, self.token, self.timeout)

    @staticmethod
    def _pulls(repo: RepoRef) -> str:
        return f"/repos/{quote(repo.owner, safe='')}/{quote(repo.name, safe='')}/pulls"

    async def open_or_adopt(self, repo: RepoRef, head: str, base: str, title: str, body: str) -> PullRequest:
        client = self._client(repo)
        existing = await self._find_open(client, repo, head, base)
        if existing is None:
            payload = {"title": title, "head": head, "base": base, "body": body}
            try:
                return _pull_request(await client.call("POST", self._pulls(repo), body=payload))
            except ForgeError as error:
                if error.status != 422:
                    raise
                existing = await self._find_open(client, repo, head, base)
                if existing is None:
                    raise
        answer = await client.call("PATCH", f"{self._pulls(repo)}/{existing}", body={"body": body})
        return _pull_request(answer)

    async def get(self, repo: RepoRef, number: int) -> PullRequest:
        return _pull_request(await self._client(repo).call("GET", f"{self._pulls(repo)}/{int(number)}"))

    async def comment(self, repo: RepoRef, number: int, body: str) -> None:
        path = (
            f"/repos/{quote(repo.owner, safe='')}/{quote(repo.name, safe='')}/issues/{int(number)}/comments"
        )
        await self._client(repo).call("POST", path, body={"body": body})

    async def _find_open(self, client: RestClient, repo: RepoRef, head: str, base: str) -> int | None:
        params: dict[str, str | int] = {
            "head": f"{repo.owner}:{head}",
            "base": base,
            "state": "open",
            "per_page": 100,
        }
        answer = await client.call("GET", self._pulls(repo), params=params)
        if not isinstance(answer, list):
            raise ForgeError("github: listing pull requests did not return a list", retriable=False)
        for item in answer:
            if _ref(item, "head") == head and _ref(item, "base") == base and item.get("state") == "open":
                return pull_request_number(item.get("number"), "github")
        return None


def _ref(item: Any, side: str) -> str | None:
    branch = item.get(side) if isinstance(item, dict) else None
    return str(branch["ref"]) if isinstance(branch, dict) and "ref" in branch else None


def _pull_request(item: Any) -> PullRequest:
    if not isinstance(item, dict) or "number" not in item:
        raise ForgeError("github: the answer is not a pull request", retriable=False)
    merged = bool(item.get("merged")) or item.get("merged_at") is not None
    state: PullRequestState = "merged" if merged else "open" if item.get("state") == "open" else "closed"
    sha = item.get("merge_commit_sha") if merged else None
    return PullRequest(
        number=pull_request_number(item.get("number"), "github"),
        url=str(item.get("html_url") or ""),
        state=state,
        head=_ref(item, "head") or "",
        base=_ref(item, "base") or "",
        merge_commit_sha=str(sha) if sha else None,
    )
