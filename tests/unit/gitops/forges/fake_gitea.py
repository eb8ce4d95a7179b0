"""An in-process Gitea REST API v1 (pulls and issue comments) following the documented contract.

- ``GET /repos/{o}/{r}/pulls``: ``state`` (open|closed|all, default open), ``sort``,
  ``page``, ``limit`` (clamped to ``MAX_RESPONSE_ITEMS``, 50 by default). No head/base filter.
- ``POST /repos/{o}/{r}/pulls`` (CreatePullRequestOption: ``head``, ``base``, ``title``,
  ``body``); 201, 409 when a PR for that head and base exists, 422 on a missing field.
- ``GET /repos/{o}/{r}/pulls/{index}``: 200; ``PATCH`` (EditPullRequestOption: ``title``,
  ``body``, ``state``, ``base``): 201.
- ``POST /repos/{o}/{r}/issues/{index}/comments``: ``body``; 201.
- Auth: ``Authorization: token <token>`` (or ``Bearer``), else 401.
"""

from __future__ import annotations

from typing import Any

from .fake_server import FakeForgeServer, JsonAnswer, page_of, split_path

MAX_RESPONSE_ITEMS = 50


class FakeGitea(FakeForgeServer):
    def __init__(self, token: str, owner: str = "org", repo: str = "repo", prefix: str = "/api/v1") -> None:
        super().__init__(token, prefix)
        self.owner = owner
        self.repo = repo
        self.pulls: dict[int, dict[str, Any]] = {}
        self.comments: dict[int, list[str]] = {}
        self.next_index = 1
        self.hide_from_lists = 0

    # test controls -----------------------------------------------------------------------------
    def add_pull(self, head: str, base: str, body: str = "", *, head_repo: str | None = None) -> int:
        with self.lock:
            index = self.next_index
            self.next_index += 1
            self.pulls[index] = {
                "number": index,
                "head": head,
                "head_repo": head_repo or f"{self.owner}/{self.repo}",
                "base": base,
                "title": f"PR {index}",
                "body": body,
                "state": "open",
                "merged": False,
                "merge_commit_sha": None,
            }
            return index

    def merge(self, index: int, sha: str) -> None:
        with self.lock:
            self.pulls[index].update(state="closed", merged=True, merge_commit_sha=sha)

    def close(self, index: int) -> None:
        with self.lock:
            self.pulls[index]["state"] = "closed"

    # contract ----------------------------------------------------------------------------------
    def authenticated(self, headers: dict[str, str]) -> bool:
        return headers.get("authorization") in (f"token {self.token}", f"Bearer {self.token}")

    def unauthenticated(self) -> JsonAnswer:
        return 401, {"message": "user does not exist [uid: 0, name: ]", "url": f"{self.api_url}/swagger"}, {}

    def _render(self, pr: dict[str, Any]) -> dict[str, Any]:
        full_name = f"{self.owner}/{self.repo}"
        return {
            "id": 9000 + pr["number"],
            "number": pr["number"],
            "url": f"{self.root}/{full_name}/pulls/{pr['number']}",
            "html_url": f"{self.root}/{full_name}/pulls/{pr['number']}",
            "title": pr["title"],
            "body": pr["body"],
            "state": pr["state"],
            "merged": pr["merged"],
            "merged_at": "2024-05-01T12:00:00Z" if pr["merged"] else None,
            "merge_commit_sha": pr["merge_commit_sha"],
            "head": {
                "label": pr["head"],
                "ref": pr["head"],
                "sha": "d" * 40,
                "repo": {"full_name": pr["head_repo"]},
            },
            "base": {
                "label": pr["base"],
                "ref": pr["base"],
                "sha": "e" * 40,
                "repo": {"full_name": full_name},
            },
        }

    def route(self, method: str, path: str, query: dict[str, str], body: Any) -> JsonAnswer:
        segments = split_path(path)
        if segments[:3] != ["repos", self.owner, self.repo]:
            return 404, {"message": "The target couldn't be found.", "errors": []}, {}
        rest = segments[3:]
        if rest == ["pulls"] and method == "GET":
            return self._list(query)
        if rest == ["pulls"] and method == "POST":
            return self._create(body)
        if len(rest) == 2 and rest[0] == "pulls" and rest[1].isdigit():
            pr = self.pulls.get(int(rest[1]))
            if pr is None:
                return 404, {"message": "The target couldn't be found.", "errors": []}, {}
            if method == "GET":
                return 200, self._render(pr), {}
            if method == "PATCH":
                for key in ("title", "body", "state", "base"):
                    if isinstance(body, dict) and key in body:
                        pr[key] = body[key]
                return 201, self._render(pr), {}
        if len(rest) == 3 and rest[0] == "issues" and rest[2] == "comments" and method == "POST":
            index = int(rest[1])
            if index not in self.pulls:
                return 404, {"message": "The target couldn't be found.", "errors": []}, {}
            if not isinstance(body, dict) or not isinstance(body.get("body"), str):
                return 422, {"message": "[Body]: Required", "url": ""}, {}
            self.comments.setdefault(index, []).append(body["body"])
            return 201, {"id": 3, "body": body["body"], "html_url": f"{self.root}/c/3"}, {}
        return 404, {"message": "The target couldn't be found.", "errors": []}, {}

    def _list(self, query: dict[str, str]) -> JsonAnswer:
        state = query.get("state", "open")
        items = sorted(self.pulls.values(), key=lambda pr: -int(pr["number"]))
        if state != "all":
            items = [pr for pr in items if pr["state"] == state]
        if self.hide_from_lists:
            self.hide_from_lists -= 1
            items = []
        rendered = [self._render(pr) for pr in page_of(items, query, "limit", 30, MAX_RESPONSE_ITEMS)]
        return 200, rendered, {"X-Total-Count": str(len(items))}

    def _create(self, body: Any) -> JsonAnswer:
        if not isinstance(body, dict):
            return 422, {"message": "invalid body", "url": ""}, {}
        for key in ("head", "base", "title"):
            if not body.get(key):
                return 422, {"message": f"[{key.capitalize()}]: Required", "url": ""}, {}
        for pr in self.pulls.values():
            if pr["state"] == "open" and pr["head"] == body["head"] and pr["base"] == body["base"]:
                message = f"pull request already exists for these targets [id: {9000 + pr['number']}]"
                return 409, {"message": message, "url": ""}, {}
        index = self.add_pull(body["head"], body["base"], str(body.get("body") or ""))
        self.pulls[index]["title"] = body["title"]
        return 201, self._render(self.pulls[index]), {}
