"""GitLab (gitlab.com and self-hosted) merge requests over the REST API v4.

Endpoints, with the project addressed by its URL-encoded full path (``group%2Fsub%2Fproject``):
``GET/POST /projects/{id}/merge_requests``, ``GET/PUT .../merge_requests/{iid}`` and
``POST .../merge_requests/{iid}/notes``. Auth: the ``PRIVATE-TOKEN`` header.

Invariants:
- ``PullRequest.number`` is the MR's ``iid`` (per project), never its global ``id``.
- The open MR for a branch is found with ``state=opened&source_branch=...&target_branch=...``
  (first page, ``per_page=100``), re-checked client side.
- ``state`` maps ``opened``/``locked`` (a merge in progress) to open, ``merged`` to merged and
  ``closed`` to closed; ``merge_commit_sha`` falls back to ``squash_commit_sha``.
- A create answered 409 (another open MR exists for that source branch) falls back to
  adopting the existing MR.
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

_STATES: dict[str, PullRequestState] = {
    "opened": "open",
    "locked": "open",
    "merged": "merged",
    "closed": "closed",
}


@dataclass(frozen=True)
class GitLabForge:
    """The GitLab adapter; ``api_url`` overrides the default for repositories without one."""

    token: str = field(repr=False)
    api_url: str | None = None
    timeout: httpx.Timeout = field(default_factory=lambda: DEFAULT_TIMEOUT)

    def _client(self, repo: RepoRef) -> RestClient:
        base = repo.api_url or self.api_url or default_api_url("gitlab", repo)
        return RestClient("gitlab", base, {"PRIVATE-TOKEN": self.token}, self.token, self.timeout)

    @staticmethod
    def _merge_requests(repo: RepoRef) -> str:
        return f"/projects/{quote(repo.path, safe='')}/merge_requests"

    async def open_or_adopt(self, repo: RepoRef, head: str, base: str, title: str, body: str) -> PullRequest:
        client = self._client(repo)
        existing = await self._find_open(client, repo, head, base)
        if existing is None:
            payload = {"source_branch": head, "target_branch": base, "title": title, "description": body}
            try:
                return _pull_request(await client.call("POST", self._merge_requests(repo), body=payload))
            except ForgeError as error:
                if error.status != 409:
                    raise
                existing = await self._find_open(client, repo, head, base)
                if existing is None:
                    raise
        answer = await client.call(
            "PUT", f"{self._merge_requests(repo)}/{existing}", body={"description": body}
        )
        return _pull_request(answer)

    async def get(self, repo: RepoRef, number: int) -> PullRequest:
        answer = await self._client(repo).call("GET", f"{self._merge_requests(repo)}/{int(number)}")
        return _pull_request(answer)

    async def comment(self, repo: RepoRef, number: int, body: str) -> None:
        path = f"{self._merge_requests(repo)}/{int(number)}/notes"
        await self._client(repo).call("POST", path, body={"body": body})

    async def _find_open(self, client: RestClient, repo: RepoRef, head: str, base: str) -> int | None:
        params: dict[str, str | int] = {
            "state": "opened",
            "source_branch": head,
            "target_branch": base,
            "per_page": 100,
        }
        answer = await client.call("GET", self._merge_requests(repo), params=params)
        if not isinstance(answer, list):
            raise ForgeError("gitlab: listing merge requests did not return a list", retriable=False)
        for item in answer:
            if (
                isinstance(item, dict)
                and item.get("source_branch") == head
                and item.get("target_branch") == base
                and item.get("state") == "opened"
            ):
                return pull_request_number(item.get("iid"), "gitlab")
        return None


def _pull_request(item: Any) -> PullRequest:
    if not isinstance(item, dict) or "iid" not in item:
        raise ForgeError("gitlab: the answer is not a merge request", retriable=False)
    raw_state = str(item.get("state"))
    if raw_state not in _STATES:
        raise ForgeError(f"gitlab: unknown merge request state {raw_state!r}", retriable=False)
    state = _STATES[raw_state]
    sha = (item.get("merge_commit_sha") or item.get("squash_commit_sha")) if state == "merged" else None
    return PullRequest(
        number=pull_request_number(item.get("iid"), "gitlab"),
        url=str(item.get("web_url") or ""),
        state=state,
        head=str(item.get("source_branch") or ""),
        base=str(item.get("target_branch") or ""),
        merge_commit_sha=str(sha) if sha else None,
    )
