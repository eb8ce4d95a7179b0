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

from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import quote

from controller.gitops.forges.base import (
    ForgeError,
    Provider,
    PullRequest,
    PullRequestState,
    RepoRef,
    pull_request_number,
)
from controller.gitops.forges.rest import RestClient
from controller.gitops.forges.skeleton import RestForge

_STATES: dict[str, PullRequestState] = {
    "opened": "open",
    "locked": "open",
    "merged": "merged",
    "closed": "closed",
}


@dataclass(frozen=True)
class GitLabForge(RestForge):
    """The GitLab adapter; ``api_url`` overrides the default for repositories without one."""

    provider: ClassVar[Provider] = "gitlab"
    exists_status: ClassVar[int] = 409
    update_method: ClassVar[str] = "PUT"
    description_field: ClassVar[str] = "description"

    def headers(self) -> dict[str, str]:
        return {"PRIVATE-TOKEN": self.token}

    def pulls_path(self, repo: RepoRef) -> str:
        return f"/projects/{quote(repo.path, safe='')}/merge_requests"

    def comment_path(self, repo: RepoRef, number: int) -> str:
        return f"{self.pulls_path(repo)}/{int(number)}/notes"

    def create_payload(self, head: str, base: str, title: str, body: str) -> dict[str, Any]:
        return {"source_branch": head, "target_branch": base, "title": title, "description": body}

    def parse(self, item: Any) -> PullRequest:
        return _pull_request(item)

    async def find_open(self, client: RestClient, repo: RepoRef, head: str, base: str) -> int | None:
        params: dict[str, str | int] = {
            "state": "opened",
            "source_branch": head,
            "target_branch": base,
            "per_page": 100,
        }
        answer = await client.call("GET", self.pulls_path(repo), params=params)
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
