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

from dataclasses import dataclass
from typing import Any, ClassVar

from controller.gitops.forges.base import (
    ForgeError,
    Provider,
    RepoRef,
    pull_request_number,
)
from controller.gitops.forges.rest import RestClient
from controller.gitops.forges.skeleton import ReposPullsForge, branch_ref

API_VERSION = "2022-11-28"
MEDIA_TYPE = "application/vnd.github+json"


@dataclass(frozen=True)
class GitHubForge(ReposPullsForge):
    """The GitHub adapter; ``api_url`` overrides the default for repositories without one."""

    provider: ClassVar[Provider] = "github"
    exists_status: ClassVar[int] = 422

    def headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.token}",
            "Accept": MEDIA_TYPE,
            "X-GitHub-Api-Version": API_VERSION,
        }

    def merged(self, item: dict[str, Any]) -> bool:
        return bool(item.get("merged")) or item.get("merged_at") is not None

    async def find_open(self, client: RestClient, repo: RepoRef, head: str, base: str) -> int | None:
        params: dict[str, str | int] = {
            "head": f"{repo.owner}:{head}",
            "base": base,
            "state": "open",
            "per_page": 100,
        }
        answer = await client.call("GET", self.pulls_path(repo), params=params)
        if not isinstance(answer, list):
            raise ForgeError("github: listing pull requests did not return a list", retriable=False)
        for item in answer:
            if (
                branch_ref(item, "head") == head
                and branch_ref(item, "base") == base
                and item.get("state") == "open"
            ):
                return pull_request_number(item.get("number"), "github")
        return None
