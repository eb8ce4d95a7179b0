from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from controller.gitops.forges import ForgeError, GitHubForge, RepoRef, forge_for

from .fake_github import FakeGitHub
from .fake_server import Failure

TOKEN = "ghp_s3cretTOKENvalue0123456789"
HEAD = "gitcanary/promote/test/podinfo/abc123"


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub(TOKEN, prefix="/api/v3") as fake:
        yield fake


@pytest.fixture
def repo(github: FakeGitHub) -> RepoRef:
    # GitHub Enterprise convention: the API lives under /api/v3 of the remote's host.
    return RepoRef.parse(f"{github.root}/org/repo.git")


def assert_github_headers(headers: dict[str, str]) -> None:
    assert headers["authorization"] == f"Bearer {TOKEN}"
    assert headers["accept"] == "application/vnd.github+json"
    assert headers["x-github-api-version"] == "2022-11-28"


async def test_creates_a_pull_request_when_none_is_open(github: FakeGitHub, repo: RepoRef) -> None:
    forge = forge_for("github", None, TOKEN)
    pr = await forge.open_or_adopt(repo, HEAD, "main", "gitcanary: promote", "the body")

    assert [(r.method, r.path) for r in github.requests] == [
        ("GET", "/api/v3/repos/org/repo/pulls"),
        ("POST", "/api/v3/repos/org/repo/pulls"),
    ]
    listing, create = github.requests
    assert listing.query == {"head": f"org:{HEAD}", "base": "main", "state": "open", "per_page": "100"}
    assert create.body == {"title": "gitcanary: promote", "head": HEAD, "base": "main", "body": "the body"}
    for request in github.requests:
        assert_github_headers(request.headers)
    assert pr.number == 1 and pr.state == "open" and pr.head == HEAD and pr.base == "main"
    assert pr.url == f"{github.root}/org/repo/pull/1"
    assert pr.merge_commit_sha is None  # the test-merge sha of an open PR is not reported
    assert github.pulls[1]["body"] == "the body"


async def test_adopts_the_open_pull_request_and_updates_its_body(github: FakeGitHub, repo: RepoRef) -> None:
    github.add_pull("other-branch", "main")
    number = github.add_pull(HEAD, "main", body="old analysis")

    pr = await forge_for("github", None, TOKEN).open_or_adopt(repo, HEAD, "main", "title", "new analysis")

    assert pr.number == number
    assert [(r.method, r.path) for r in github.requests] == [
        ("GET", "/api/v3/repos/org/repo/pulls"),
        ("PATCH", f"/api/v3/repos/org/repo/pulls/{number}"),
    ]
    assert github.requests[1].body == {"body": "new analysis"}
    assert github.pulls[number]["body"] == "new analysis"
    assert len(github.pulls) == 2


async def test_closed_or_foreign_pull_requests_are_not_adopted(github: FakeGitHub, repo: RepoRef) -> None:
    closed = github.add_pull(HEAD, "main")
    github.close(closed)
    github.add_pull(HEAD, "main", head_owner="someone-else")  # a fork with the same branch name
    github.add_pull(HEAD, "release")  # another base

    pr = await forge_for("github", None, TOKEN).open_or_adopt(repo, HEAD, "main", "title", "body")

    assert pr.number == 4
    assert github.requests[-1].method == "POST"


async def test_a_concurrent_create_is_adopted(github: FakeGitHub, repo: RepoRef) -> None:
    number = github.add_pull(HEAD, "main")
    github.hide_from_lists = 1  # the first listing misses it, as if created meanwhile

    pr = await forge_for("github", None, TOKEN).open_or_adopt(repo, HEAD, "main", "title", "body")

    assert pr.number == number
    assert [r.method for r in github.requests] == ["GET", "POST", "GET", "PATCH"]
    assert len(github.pulls) == 1


async def test_get_reports_open_merged_and_closed(github: FakeGitHub, repo: RepoRef) -> None:
    forge = forge_for("github", None, TOKEN)
    opened, merged, closed = (github.add_pull(f"b{i}", "main") for i in range(3))
    github.merge(merged, "f" * 40)
    github.close(closed)

    assert (await forge.get(repo, opened)).state == "open"
    merged_pr = await forge.get(repo, merged)
    assert merged_pr.state == "merged" and merged_pr.merge_commit_sha == "f" * 40
    closed_pr = await forge.get(repo, closed)
    assert closed_pr.state == "closed" and closed_pr.merge_commit_sha is None
    assert github.requests[0].path == f"/api/v3/repos/org/repo/pulls/{opened}"
    assert_github_headers(github.requests[0].headers)


async def test_comment_uses_the_issue_comments_api(github: FakeGitHub, repo: RepoRef) -> None:
    number = github.add_pull(HEAD, "main")
    await forge_for("github", None, TOKEN).comment(repo, number, "promotion timed out")

    request = github.requests[0]
    assert (request.method, request.path) == ("POST", f"/api/v3/repos/org/repo/issues/{number}/comments")
    assert request.body == {"body": "promotion timed out"}
    assert github.comments[number] == ["promotion timed out"]


async def test_api_url_override_from_registry_and_repo() -> None:
    with FakeGitHub(TOKEN, prefix="/custom/api") as fake:
        fake.add_pull(HEAD, "main")
        plain = RepoRef.parse("git@github.example.com:org/repo.git")
        assert (await forge_for("github", fake.api_url, TOKEN).get(plain, 1)).number == 1
        overridden = RepoRef.parse("git@github.example.com:org/repo.git", api_url=fake.api_url + "/")
        assert (await forge_for("github", "http://127.0.0.1:9/unused", TOKEN).get(overridden, 1)).number == 1
        assert [r.path for r in fake.requests] == ["/custom/api/repos/org/repo/pulls/1"] * 2


@pytest.mark.parametrize(
    ("failure", "retriable", "retry_after"),
    [
        (
            Failure(
                403, {"message": "API rate limit exceeded for user ID 1."}, {"x-ratelimit-remaining": "0"}
            ),
            True,
            None,
        ),
        (
            Failure(403, {"message": "You have exceeded a secondary rate limit."}, {"retry-after": "60"}),
            True,
            60.0,
        ),
        (Failure(429, {"message": "Too many requests"}, {"retry-after": "7"}), True, 7.0),
        (Failure(502, {"message": "Server Error"}), True, None),
        (Failure(404, {"message": "Not Found"}), False, None),
        (Failure(403, {"message": "Resource not accessible by personal access token"}), False, None),
    ],
)
async def test_errors_are_classified(
    github: FakeGitHub, repo: RepoRef, failure: Failure, retriable: bool, retry_after: float | None
) -> None:
    github.failures.append(failure)
    with pytest.raises(ForgeError) as caught:
        await forge_for("github", None, TOKEN).get(repo, 1)
    assert caught.value.retriable is retriable
    assert caught.value.status == failure.status
    assert caught.value.retry_after == retry_after
    assert failure.body["message"] in str(caught.value)


async def test_rate_limit_reset_gives_retry_after(github: FakeGitHub, repo: RepoRef) -> None:
    import time

    reset = str(int(time.time()) + 120)
    headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset}
    github.failures.append(Failure(403, {"message": "API rate limit exceeded"}, headers))
    with pytest.raises(ForgeError) as caught:
        await forge_for("github", None, TOKEN).get(repo, 1)
    assert caught.value.retry_after is not None and 100 < caught.value.retry_after <= 120


async def test_the_token_never_shows_in_errors_or_reprs(github: FakeGitHub, repo: RepoRef) -> None:
    github.failures.append(Failure(500, {"message": f"proxy rejected Authorization: Bearer {TOKEN}"}))
    forge = forge_for("github", None, TOKEN)
    with pytest.raises(ForgeError) as caught:
        await forge.open_or_adopt(repo, HEAD, "main", "t", "b")
    assert TOKEN not in str(caught.value) and TOKEN not in repr(caught.value)
    assert "Bearer" in str(caught.value)  # the message itself is kept, only the token is cut
    assert TOKEN not in repr(forge)

    with pytest.raises(ForgeError) as bad_token:
        await GitHubForge(token="wrong-token-value").get(repo, 1)
    assert bad_token.value.status == 401 and not bad_token.value.retriable
    assert "Bad credentials" in str(bad_token.value)


async def test_timeouts_and_refused_connections_are_retriable(github: FakeGitHub, repo: RepoRef) -> None:
    github.delay_s = 0.5
    slow = GitHubForge(token=TOKEN, timeout=httpx.Timeout(0.1))
    with pytest.raises(ForgeError) as timed_out:
        await slow.get(repo, 1)
    assert timed_out.value.retriable and timed_out.value.status is None
    assert "timed out" in str(timed_out.value)

    nowhere = RepoRef.parse("https://github.example.com/org/repo", api_url="http://127.0.0.1:9")
    with pytest.raises(ForgeError) as refused:
        await GitHubForge(token=TOKEN).get(nowhere, 1)
    assert refused.value.retriable and refused.value.status is None
