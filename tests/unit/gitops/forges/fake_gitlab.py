"""An in-process GitLab REST API v4 (merge requests and notes) following the documented contract.

- The project ``:id`` is a numeric id or the URL-encoded full path (``group%2Fsub%2Fproject``);
  an unencoded path does not route (404 "404 Project Not Found").
- ``GET /projects/:id/merge_requests``: ``state`` (opened|closed|locked|merged|all, default
  all), ``source_branch``, ``target_branch``, ``per_page`` (default 20, max 100), ``page``.
- ``POST /projects/:id/merge_requests``: ``source_branch``, ``target_branch``, ``title``
  required, ``description``; 201, 400 when a required attribute is missing, 409 when another
  open MR exists for the source branch.
- ``GET``/``PUT /projects/:id/merge_requests/:iid``: PUT takes ``title``, ``description``,
  ``state_event``, ``target_branch``; 200.
- ``POST /projects/:id/merge_requests/:iid/notes``: ``body``; 201.
- Auth: ``PRIVATE-TOKEN`` (or ``Authorization: Bearer``), else 401 "401 Unauthorized".
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from .fake_server import FakeForgeServer, JsonAnswer, page_of, split_path

NOT_FOUND: JsonAnswer = (404, {"message": "404 Project Not Found"}, {})


class FakeGitLab(FakeForgeServer):
    def __init__(self, token: str, project: str = "group/sub/project", prefix: str = "/api/v4") -> None:
        super().__init__(token, prefix)
        self.project = project
        self.project_id = 42
        self.mrs: dict[int, dict[str, Any]] = {}
        self.notes: dict[int, list[str]] = {}
        self.next_iid = 1
        self.hide_from_lists = 0

    # test controls -----------------------------------------------------------------------------
    def add_mr(self, source: str, target: str, description: str = "", state: str = "opened") -> int:
        with self.lock:
            iid = self.next_iid
            self.next_iid += 1
            self.mrs[iid] = {
                "iid": iid,
                "source_branch": source,
                "target_branch": target,
                "title": f"MR {iid}",
                "description": description,
                "state": state,
                "merge_commit_sha": None,
                "squash_commit_sha": None,
            }
            return iid

    def merge(self, iid: int, sha: str | None = None, squash_sha: str | None = None) -> None:
        with self.lock:
            self.mrs[iid].update(state="merged", merge_commit_sha=sha, squash_commit_sha=squash_sha)

    def set_state(self, iid: int, state: str) -> None:
        with self.lock:
            self.mrs[iid]["state"] = state

    # contract ----------------------------------------------------------------------------------
    def authenticated(self, headers: dict[str, str]) -> bool:
        return (
            headers.get("private-token") == self.token
            or headers.get("authorization") == f"Bearer {self.token}"
        )

    def unauthenticated(self) -> JsonAnswer:
        return 401, {"message": "401 Unauthorized"}, {}

    def _render(self, mr: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": 5000 + mr["iid"],
            "iid": mr["iid"],
            "project_id": self.project_id,
            "title": mr["title"],
            "description": mr["description"],
            "state": mr["state"],
            "source_branch": mr["source_branch"],
            "target_branch": mr["target_branch"],
            "sha": "c" * 40,
            "merge_commit_sha": mr["merge_commit_sha"],
            "squash_commit_sha": mr["squash_commit_sha"],
            "web_url": f"{self.root}/{self.project}/-/merge_requests/{mr['iid']}",
        }

    def route(self, method: str, path: str, query: dict[str, str], body: Any) -> JsonAnswer:
        segments = split_path(path)
        if len(segments) < 3 or segments[0] != "projects" or segments[2] != "merge_requests":
            return NOT_FOUND
        if unquote(segments[1]) not in (self.project, str(self.project_id)):
            return NOT_FOUND
        rest = segments[3:]
        if not rest and method == "GET":
            return self._list(query)
        if not rest and method == "POST":
            return self._create(body)
        if not rest or not rest[0].isdigit():
            return 404, {"message": "404 Not found"}, {}
        mr = self.mrs.get(int(rest[0]))
        if mr is None:
            return 404, {"message": "404 Not found"}, {}
        if len(rest) == 1 and method == "GET":
            return 200, self._render(mr), {}
        if len(rest) == 1 and method == "PUT":
            if isinstance(body, dict):
                for key in ("title", "description", "target_branch"):
                    if key in body:
                        mr[key] = body[key]
                if body.get("state_event") == "close":
                    mr["state"] = "closed"
            return 200, self._render(mr), {}
        if rest[1:] == ["notes"] and method == "POST":
            if not isinstance(body, dict) or not body.get("body"):
                return 400, {"error": "body is missing"}, {}
            self.notes.setdefault(mr["iid"], []).append(body["body"])
            return 201, {"id": 77, "body": body["body"], "noteable_iid": mr["iid"]}, {}
        return 404, {"message": "404 Not found"}, {}

    def _list(self, query: dict[str, str]) -> JsonAnswer:
        items = sorted(self.mrs.values(), key=lambda mr: -int(mr["iid"]))
        state = query.get("state", "all")
        if state != "all":
            items = [mr for mr in items if mr["state"] == state]
        for key in ("source_branch", "target_branch"):
            if key in query:
                items = [mr for mr in items if mr[key] == query[key]]
        if self.hide_from_lists:
            self.hide_from_lists -= 1
            items = []
        return 200, [self._render(mr) for mr in page_of(items, query, "per_page", 20, 100)], {}

    def _create(self, body: Any) -> JsonAnswer:
        if not isinstance(body, dict):
            return 400, {"error": "source_branch is missing"}, {}
        for key in ("source_branch", "target_branch", "title"):
            if not body.get(key):
                return 400, {"error": f"{key} is missing"}, {}
        for mr in self.mrs.values():
            if mr["state"] == "opened" and mr["source_branch"] == body["source_branch"]:
                message = f"Another open merge request already exists for this source branch: !{mr['iid']}"
                return 409, {"message": [message]}, {}
        iid = self.add_mr(body["source_branch"], body["target_branch"], str(body.get("description") or ""))
        self.mrs[iid]["title"] = body["title"]
        return 201, self._render(self.mrs[iid]), {}
