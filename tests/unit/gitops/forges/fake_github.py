"""An in-process GitHub REST API (pulls and issue comments) following the documented contract.

- ``GET /repos/{o}/{r}/pulls``: ``state`` (open|closed|all, default open), ``head``
  (``user:ref-name``), ``base``, ``per_page`` (default 30, max 100), ``page``. Items are
  "simple" pull requests: they carry ``merged_at`` but no ``merged`` flag.
- ``POST /repos/{o}/{r}/pulls``: ``title``, ``head``, ``base`` required, ``body``; 201, or 422
  "Validation Failed" when an open PR for the head and base exists.
- ``GET``/``PATCH /repos/{o}/{r}/pulls/{n}``: the full PR with ``merged``; PATCH takes
  ``title``, ``body``, ``state``, ``base``.
- ``POST /repos/{o}/{r}/issues/{n}/comments``: ``body``; 201.
- Auth: ``Authorization: Bearer <token>`` (or ``token <token>``), else 401 "Bad credentials".
  An unknown ``X-GitHub-Api-Version`` is a 400.
"""

from __future__ import annotations

from typing import Any

from .fake_server import FakeForgeServer, JsonAnswer, page_of, split_path

SUPPORTED_API_VERSIONS = ("2022-11-28",)
DOCS = "https://docs.github.com/rest"


class FakeGitHub(FakeForgeServer):
    def __init__(self, token: str, prefix: str = "", owner: str = "org", repo: str = "repo") -> None:
        super().__init__(token, prefix)
        self.owner = owner
        self.repo = repo
        self.pulls: dict[int, dict[str, Any]] = {}
        self.comments: dict[int, list[str]] = {}
        self.next_number = 1
        self.hide_from_lists = 0

    # test controls -----------------------------------------------------------------------------
    def add_pull(self, head: str, base: str, body: str = "", *, head_owner: str | None = None) -> int:
        with self.lock:
            number = self.next_number
            self.next_number += 1
            self.pulls[number] = {
                "number": number,
                "head": head,
                "head_owner": head_owner or self.owner,
                "base": base,
                "title": f"PR {number}",
                "body": body,
                "state": "open",
                "merged_at": None,
                "merge_commit_sha": f"{number:040x}",  # GitHub's test merge commit while open
            }
            return number

    def merge(self, number: int, sha: str) -> None:
        with self.lock:
            self.pulls[number].update(state="closed", merged_at="2024-05-01T12:00:00Z", merge_commit_sha=sha)

    def close(self, number: int) -> None:
        with self.lock:
            self.pulls[number]["state"] = "closed"

    # contract ----------------------------------------------------------------------------------
    def authenticated(self, headers: dict[str, str]) -> bool:
        return headers.get("authorization") in (f"Bearer {self.token}", f"token {self.token}")

    def unauthenticated(self) -> JsonAnswer:
        return 401, {"message": "Bad credentials", "documentation_url": DOCS, "status": "401"}, {}

    def _render(self, pr: dict[str, Any], *, full: bool) -> dict[str, Any]:
        repo_url = f"{self.root}/{self.owner}/{self.repo}"
        rendered: dict[str, Any] = {
            "url": f"{self.api_url}/repos/{self.owner}/{self.repo}/pulls/{pr['number']}",
            "id": 1000 + pr["number"],
            "number": pr["number"],
            "state": pr["state"],
            "title": pr["title"],
            "body": pr["body"],
            "html_url": f"{repo_url}/pull/{pr['number']}",
            "merged_at": pr["merged_at"],
            "merge_commit_sha": pr["merge_commit_sha"],
            "head": {"label": f"{pr['head_owner']}:{pr['head']}", "ref": pr["head"], "sha": "a" * 40},
            "base": {"label": f"{self.owner}:{pr['base']}", "ref": pr["base"], "sha": "b" * 40},
        }
        if full:
            rendered["merged"] = pr["merged_at"] is not None
            rendered["mergeable"] = pr["state"] == "open"
        return rendered

    def route(self, method: str, path: str, query: dict[str, str], body: Any) -> JsonAnswer:
        segments = split_path(path)
        if segments[:3] != ["repos", self.owner, self.repo]:
            return 404, {"message": "Not Found", "documentation_url": DOCS}, {}
        rest = segments[3:]
        if rest == ["pulls"] and method == "GET":
            return self._list(query)
        if rest == ["pulls"] and method == "POST":
            return self._create(body)
        if len(rest) == 2 and rest[0] == "pulls" and rest[1].isdigit():
            pr = self.pulls.get(int(rest[1]))
            if pr is None:
                return 404, {"message": "Not Found", "documentation_url": DOCS}, {}
            if method == "GET":
                return 200, self._render(pr, full=True), {}
            if method == "PATCH":
                for key in ("title", "body", "state", "base"):
                    if isinstance(body, dict) and key in body:
                        pr[key] = body[key]
                return 200, self._render(pr, full=True), {}
        if len(rest) == 3 and rest[0] == "issues" and rest[2] == "comments" and method == "POST":
            number = int(rest[1])
            if number not in self.pulls:
                return 404, {"message": "Not Found", "documentation_url": DOCS}, {}
            if not isinstance(body, dict) or not isinstance(body.get("body"), str):
                return 422, {"message": "Validation Failed", "documentation_url": DOCS}, {}
            self.comments.setdefault(number, []).append(body["body"])
            return 201, {"id": 1, "body": body["body"], "html_url": f"{self.root}/c/1"}, {}
        return 404, {"message": "Not Found", "documentation_url": DOCS}, {}

    def _list(self, query: dict[str, str]) -> JsonAnswer:
        state = query.get("state", "open")
        items = sorted(self.pulls.values(), key=lambda pr: -int(pr["number"]))
        if state != "all":
            items = [pr for pr in items if pr["state"] == state]
        if "head" in query:
            owner, _, ref = query["head"].partition(":")
            items = [pr for pr in items if pr["head_owner"] == owner and pr["head"] == ref]
        if "base" in query:
            items = [pr for pr in items if pr["base"] == query["base"]]
        if self.hide_from_lists:
            self.hide_from_lists -= 1
            items = []
        return 200, [self._render(pr, full=False) for pr in page_of(items, query, "per_page", 30, 100)], {}

    def _create(self, body: Any) -> JsonAnswer:
        if not isinstance(body, dict) or not all(isinstance(body.get(key), str) for key in ("head", "base")):
            return 422, {"message": "Validation Failed", "documentation_url": DOCS}, {}
        if not body.get("title"):
            return (
                422,
                {"message": "Validation Failed", "errors": [{"field": "title", "code": "missing"}]},
                {},
            )
        owner, _, ref = body["head"].rpartition(":")
        owner = owner or self.owner
        for pr in self.pulls.values():
            if (
                pr["state"] == "open"
                and pr["head"] == ref
                and pr["head_owner"] == owner
                and pr["base"] == body["base"]
            ):
                message = f"A pull request already exists for {owner}:{ref}."
                error = {"resource": "PullRequest", "code": "custom", "message": message}
                return 422, {"message": "Validation Failed", "errors": [error], "documentation_url": DOCS}, {}
        number = self.add_pull(ref, body["base"], str(body.get("body") or ""), head_owner=owner)
        self.pulls[number]["title"] = body["title"]
        return 201, self._render(self.pulls[number], full=True), {}
