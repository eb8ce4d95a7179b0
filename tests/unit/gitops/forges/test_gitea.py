from __future__ import annotations

from collections.abc import Iterator

import pytest

from controller.gitops.forges import ForgeError, GiteaForge, RepoRef, forge_for

from .fake_gitea import FakeGitea
from .fake_server import Failure

TOKEN = "0123456789abcdef0123456789abcdef01234567"
HEAD = "gitcanary/promote/test/podinfo/abc123"
PULLS = "/api/v1/repos/org/repo/pulls"


@pytest.fixture
def gitea() -> Iterator[FakeGitea]:
    with FakeGitea(TOKEN) as fake:
        yield fake


@pytest.fixture
def repo(gitea: FakeGitea) -> RepoRef:
    # Gitea on a custom host and port: the API is /api/v1 there.
    return RepoRef.parse(f"{gitea.root}/org/repo")


async def test_creates_a_pull_request_when_none_is_open(gitea: FakeGitea, repo: RepoRef) -> None:
    pr = await forge_for("gitea", None, TOKEN).open_or_adopt(repo, HEAD, "main", "promote", "analysis")

    assert [(r.method, r.path) for r in gitea.requests] == [("GET", PULLS), ("POST", PULLS)]
    listing, create = gitea.requests
    assert listing.query == {"state": "open", "page": "1", "limit": "100"}
    assert create.body == {"title": "promote", "head": HEAD, "base": "main", "body": "analysis"}
    for request in gitea.requests:
        assert request.headers["authorization"] == f"token {TOKEN}"
    assert (pr.number, pr.state, pr.head, pr.base) == (1, "open", HEAD, "main")
    assert pr.url == f"{gitea.root}/org/repo/pulls/1"


async def test_adopts_by_matching_head_and_base_client_side(gitea: FakeGitea, repo: RepoRef) -> None:
    gitea.add_pull(HEAD, "release")
    closed = gitea.add_pull(HEAD, "main")
    gitea.close(closed)
    index = gitea.add_pull(HEAD, "main", body="old")
    gitea.add_pull(HEAD, "main", head_repo="fork/repo")  # listed first (newest): must be skipped
    gitea.add_pull("unrelated", "main")

    pr = await forge_for("gitea", None, TOKEN).open_or_adopt(repo, HEAD, "main", "promote", "new")

    assert pr.number == index
    assert [(r.method, r.path) for r in gitea.requests] == [("GET", PULLS), ("PATCH", f"{PULLS}/{index}")]
    assert gitea.requests[1].body == {"body": "new"}
    assert gitea.pulls[index]["body"] == "new"


async def test_a_conflicting_create_is_adopted(gitea: FakeGitea, repo: RepoRef) -> None:
    index = gitea.add_pull(HEAD, "main")
    gitea.hide_from_lists = 1
    pr = await forge_for("gitea", None, TOKEN).open_or_adopt(repo, HEAD, "main", "promote", "body")
    assert pr.number == index
    assert [r.method for r in gitea.requests] == ["GET", "POST", "GET", "PATCH"]


async def test_get_reports_open_merged_and_closed(gitea: FakeGitea, repo: RepoRef) -> None:
    opened, merged, closed = (gitea.add_pull(f"b{i}", "main") for i in range(3))
    gitea.merge(merged, "9" * 40)
    gitea.close(closed)
    forge = GiteaForge(token=TOKEN)
    assert (await forge.get(repo, opened)).state == "open"
    merged_pr = await forge.get(repo, merged)
    assert (merged_pr.state, merged_pr.merge_commit_sha) == ("merged", "9" * 40)
    closed_pr = await forge.get(repo, closed)
    assert (closed_pr.state, closed_pr.merge_commit_sha) == ("closed", None)
    assert gitea.requests[0].path == f"{PULLS}/{opened}"


async def test_comment_uses_the_issue_comments_api(gitea: FakeGitea, repo: RepoRef) -> None:
    index = gitea.add_pull(HEAD, "main")
    await forge_for("gitea", None, TOKEN).comment(repo, index, "approved, promoting")
    request = gitea.requests[0]
    assert (request.method, request.path) == ("POST", f"/api/v1/repos/org/repo/issues/{index}/comments")
    assert request.body == {"body": "approved, promoting"}
    assert gitea.comments[index] == ["approved, promoting"]


async def test_errors_are_classified_and_redacted(gitea: FakeGitea, repo: RepoRef) -> None:
    gitea.failures += [
        Failure(500, {"message": f"database locked while checking token {TOKEN}"}),
        Failure(404, {"message": "The target couldn't be found."}),
    ]
    forge = forge_for("gitea", None, TOKEN)
    with pytest.raises(ForgeError) as server_error:
        await forge.get(repo, 1)
    assert server_error.value.retriable and TOKEN not in str(server_error.value)
    assert "database locked" in str(server_error.value)
    with pytest.raises(ForgeError) as missing:
        await forge.get(repo, 1)
    assert not missing.value.retriable and missing.value.status == 404
    assert TOKEN not in repr(forge)


async def test_a_wrong_token_is_not_retriable(gitea: FakeGitea, repo: RepoRef) -> None:
    with pytest.raises(ForgeError) as caught:
        await GiteaForge(token="wrong-token-value").open_or_adopt(repo, HEAD, "main", "t", "b")
    assert caught.value.status == 401 and not caught.value.retriable
    assert "wrong-token-value" not in str(caught.value)
    assert gitea.pulls == {}


async def test_the_open_pull_request_is_found_beyond_the_first_page(gitea: FakeGitea, repo: RepoRef) -> None:
    """The server clamps limit=100 to 50: the adopted PR is on the third page (newest first)."""
    index = gitea.add_pull(HEAD, "main")
    for n in range(120):
        gitea.add_pull(f"feature/{n}", "main")

    pr = await forge_for("gitea", None, TOKEN).open_or_adopt(repo, HEAD, "main", "promote", "new")

    assert pr.number == index
    listings = [r for r in gitea.requests if r.method == "GET"]
    assert [r.query["page"] for r in listings] == ["1", "2", "3"]
    assert [(r.method, r.path) for r in gitea.requests][-1] == ("PATCH", f"{PULLS}/{index}")
