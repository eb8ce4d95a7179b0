"""Gitea (and Forgejo) pull requests over the REST API v1.

Endpoints: ``GET/POST /repos/{owner}/{repo}/pulls``, ``GET/PATCH .../pulls/{index}`` and
``POST .../issues/{index}/comments``. Auth: ``Authorization: token <token>``.

Invariants:
- Gitea's list endpoint has no head/base filter, so the open PR for a branch is found by
  listing ``state=open`` page by page (``limit=100``; servers clamp it to their
  ``MAX_RESPONSE_ITEMS``, 50 by default) until it is found or a page comes back empty, at most
  ``MAX_PAGES`` pages, and matching ``head.ref``/``base.ref`` client side, ignoring PRs whose
  head lives in another repository (forks).
- The ``merged`` flag decides ``merged``; ``state: closed`` without it is a rejection.
- A create answered 409 (a PR for that head and base exists) falls back to adopting it.
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

MAX_PAGES = 20


@dataclass(frozen=True)
class GiteaForge:
    """The Gitea adapter; ``api_url`` overrides the default for repositories without one."""

    token: str = field(repr=False)
    api_url: str | None = None
    timeout: httpx.Timeout = field(default_factory=lambda: DEFAULT_TIMEOUT)

    def _client(self, repo: RepoRef) -> RestClient:
        base = repo.api_url or self.api_url or default_api_url("gitea", repo)
        headers = {"Authorization": f"token {self.token}", "Accept": "application/json"}
        return RestClient("gitea", base, headers, self.token, self.timeout)

    @staticmethod
    def _repo_path(repo: RepoRef) -> str:
        return f"/repos/{quote(repo.owner, safe='')}/{quote(repo.name, safe='')}"

    async def open_or_adopt(self, repo: RepoRef, head: str, base: str, title: str, body: str) -> PullRequest:
        client = self._client(repo)
        pulls = f"{self._repo_path(repo)}/pulls"
        existing = await self._find_open(client, repo, head, base)
        if existing is None:
            payload = {"title": title, "head": head, "base": base, "body": body}
            try:
                return _pull_request(await client.call("POST", pulls, body=payload))
            except ForgeError as error:
                if error.status != 409:
                    raise
                existing = await self._find_open(client, repo, head, base)
                if existing is None:
                    raise
        return _pull_request(await client.call("PATCH", f"{pulls}/{existing}", body={"body": body}))

    async def get(self, repo: RepoRef, number: int) -> PullRequest:
        answer = await self._client(repo).call("GET", f"{self._repo_path(repo)}/pulls/{int(number)}")
        return _pull_request(answer)

    async def comment(self, repo: RepoRef, number: int, body: str) -> None:
        path = f"{self._repo_path(repo)}/issues/{int(number)}/comments"
        await self._client(repo).call("POST", path, body={"body": body})

    async def _find_open(self, client: RestClient, repo: RepoRef, head: str, base: str) -> int | None:
        for page in range(1, MAX_PAGES + 1):
            params: dict[str, str | int] = {"state": "open", "page": page, "limit": 100}
            answer = await client.call("GET", f"{self._repo_path(repo)}/pulls", params=params)
            if not isinstance(answer, list):
                raise ForgeError("gitea: listing pull requests did not return a list", retriable=False)
            if not answer:
                return None
            for item in answer:
                if (
                    isinstance(item, dict)
                    and item.get("state") == "open"
                    and _ref(item, "head") == head
                    and _ref(item, "base") == base
                    and _same_repository(item, repo)
                ):
                    return pull_request_number(item.get("number"), "gitea")
        return None


def _ref(item: Any, side: str) -> str | None:
    branch = item.get(side) if isinstance(item, dict) else None
    return str(branch["ref"]) if isinstance(branch, dict) and "ref" in branch else None


def _same_repository(item: dict[str, Any], repo: RepoRef) -> bool:
    head = item.get("head")
    head_repo = head.get("repo") if isinstance(head, dict) else None
    full_name = head_repo.get("full_name") if isinstance(head_repo, dict) else None
    return full_name is None or str(full_name).lower() == repo.path.lower()


def _pull_request(item: Any) -> PullRequest:
    if not isinstance(item, dict) or "number" not in item:
        raise ForgeError("gitea: the answer is not a pull request", retriable=False)
    merged = bool(item.get("merged"))
    state: PullRequestState = "merged" if merged else "open" if item.get("state") == "open" else "closed"
    sha = item.get("merge_commit_sha") if merged else None
    return PullRequest(
        number=pull_request_number(item.get("number"), "gitea"),
        url=str(item.get("html_url") or ""),
        state=state,
        head=_ref(item, "head") or "",
        base=_ref(item, "base") or "",
        merge_commit_sha=str(sha) if sha else None,
    )
