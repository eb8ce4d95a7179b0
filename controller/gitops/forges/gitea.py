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

MAX_PAGES = 20


@dataclass(frozen=True)
class GiteaForge(ReposPullsForge):
    """The Gitea adapter; ``api_url`` overrides the default for repositories without one."""

    provider: ClassVar[Provider] = "gitea"
    exists_status: ClassVar[int] = 409

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}", "Accept": "application/json"}

    async def find_open(self, client: RestClient, repo: RepoRef, head: str, base: str) -> int | None:
        for page in range(1, MAX_PAGES + 1):
            params: dict[str, str | int] = {"state": "open", "page": page, "limit": 100}
            answer = await client.call("GET", self.pulls_path(repo), params=params)
            if not isinstance(answer, list):
                raise ForgeError("gitea: listing pull requests did not return a list", retriable=False)
            if not answer:
                return None
            for item in answer:
                if (
                    isinstance(item, dict)
                    and item.get("state") == "open"
                    and branch_ref(item, "head") == head
                    and branch_ref(item, "base") == base
                    and _same_repository(item, repo)
                ):
                    return pull_request_number(item.get("number"), "gitea")
        return None


def _same_repository(item: dict[str, Any], repo: RepoRef) -> bool:
    head = item.get("head")
    head_repo = head.get("repo") if isinstance(head, dict) else None
    full_name = head_repo.get("full_name") if isinstance(head_repo, dict) else None
    return full_name is None or str(full_name).lower() == repo.path.lower()
