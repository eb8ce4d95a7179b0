from __future__ import annotations

from collections.abc import Iterator

import pytest

from controller.gitops.forges import ForgeError, GitLabForge, RepoRef, forge_for

from .fake_gitlab import FakeGitLab
from .fake_server import Failure

TOKEN = "glpat-S3cretTokenValue-xyz"
HEAD = "gitcanary/promote/test/podinfo/abc123"
PROJECT = "/api/v4/projects/group%2Fsub%2Fproject/merge_requests"


@pytest.fixture
def gitlab() -> Iterator[FakeGitLab]:
    with FakeGitLab(TOKEN) as fake:
        yield fake


@pytest.fixture
def repo(gitlab: FakeGitLab) -> RepoRef:
    # Self-hosted GitLab with a subgroup: the API is /api/v4 on the remote's host.
    return RepoRef.parse(f"{gitlab.root}/group/sub/project.git")


async def test_creates_a_merge_request_when_none_is_open(gitlab: FakeGitLab, repo: RepoRef) -> None:
    pr = await forge_for("gitlab", None, TOKEN).open_or_adopt(repo, HEAD, "main", "promote", "analysis")

    assert [(r.method, r.path) for r in gitlab.requests] == [("GET", PROJECT), ("POST", PROJECT)]
    listing, create = gitlab.requests
    assert listing.query == {
        "state": "opened",
        "source_branch": HEAD,
        "target_branch": "main",
        "per_page": "100",
    }
    assert create.body == {
        "source_branch": HEAD,
        "target_branch": "main",
        "title": "promote",
        "description": "analysis",
    }
    for request in gitlab.requests:
        assert request.headers["private-token"] == TOKEN
        assert "authorization" not in request.headers
    assert (pr.number, pr.state, pr.head, pr.base) == (1, "open", HEAD, "main")
    assert pr.url == f"{gitlab.root}/group/sub/project/-/merge_requests/1"


async def test_adopts_the_open_merge_request(gitlab: FakeGitLab, repo: RepoRef) -> None:
    merged = gitlab.add_mr(HEAD, "main")
    gitlab.merge(merged, "1" * 40)
    iid = gitlab.add_mr(HEAD, "main", description="old")

    pr = await forge_for("gitlab", None, TOKEN).open_or_adopt(repo, HEAD, "main", "promote", "new")

    assert pr.number == iid and pr.state == "open"
    assert [(r.method, r.path) for r in gitlab.requests] == [("GET", PROJECT), ("PUT", f"{PROJECT}/{iid}")]
    assert gitlab.requests[1].body == {"description": "new"}
    assert gitlab.mrs[iid]["description"] == "new"


async def test_a_conflicting_create_is_adopted(gitlab: FakeGitLab, repo: RepoRef) -> None:
    iid = gitlab.add_mr(HEAD, "main")
    gitlab.hide_from_lists = 1

    pr = await forge_for("gitlab", None, TOKEN).open_or_adopt(repo, HEAD, "main", "promote", "body")

    assert pr.number == iid
    assert [r.method for r in gitlab.requests] == ["GET", "POST", "GET", "PUT"]


async def test_a_conflict_for_another_target_is_not_hidden(gitlab: FakeGitLab, repo: RepoRef) -> None:
    gitlab.add_mr(HEAD, "release")  # GitLab allows one open MR per source branch
    with pytest.raises(ForgeError) as caught:
        await forge_for("gitlab", None, TOKEN).open_or_adopt(repo, HEAD, "main", "promote", "body")
    assert caught.value.status == 409 and not caught.value.retriable
    assert "Another open merge request already exists" in str(caught.value)


@pytest.mark.parametrize(
    ("state", "expected"),
    [("opened", "open"), ("locked", "open"), ("merged", "merged"), ("closed", "closed")],
)
async def test_get_maps_states(gitlab: FakeGitLab, repo: RepoRef, state: str, expected: str) -> None:
    iid = gitlab.add_mr(HEAD, "main")
    gitlab.set_state(iid, state)
    pr = await GitLabForge(token=TOKEN).get(repo, iid)
    assert pr.state == expected
    assert gitlab.requests[0].path == f"{PROJECT}/{iid}"


async def test_merge_commit_falls_back_to_the_squash_commit(gitlab: FakeGitLab, repo: RepoRef) -> None:
    merge, squash, fast_forward = (gitlab.add_mr(f"b{i}", "main") for i in range(3))
    gitlab.merge(merge, sha="a" * 40, squash_sha=None)
    gitlab.merge(squash, sha=None, squash_sha="b" * 40)
    gitlab.merge(fast_forward)
    forge = GitLabForge(token=TOKEN)
    assert (await forge.get(repo, merge)).merge_commit_sha == "a" * 40
    assert (await forge.get(repo, squash)).merge_commit_sha == "b" * 40
    assert (await forge.get(repo, fast_forward)).merge_commit_sha is None


async def test_comment_posts_a_note(gitlab: FakeGitLab, repo: RepoRef) -> None:
    iid = gitlab.add_mr(HEAD, "main")
    await forge_for("gitlab", None, TOKEN).comment(repo, iid, "rolled back")
    request = gitlab.requests[0]
    assert (request.method, request.path, request.body) == (
        "POST",
        f"{PROJECT}/{iid}/notes",
        {"body": "rolled back"},
    )
    assert gitlab.notes[iid] == ["rolled back"]


async def test_an_unknown_state_is_an_error(gitlab: FakeGitLab, repo: RepoRef) -> None:
    iid = gitlab.add_mr(HEAD, "main")
    gitlab.set_state(iid, "archived")
    with pytest.raises(ForgeError, match="unknown merge request state 'archived'"):
        await GitLabForge(token=TOKEN).get(repo, iid)


async def test_rate_limit_and_server_errors_are_retriable(gitlab: FakeGitLab, repo: RepoRef) -> None:
    gitlab.failures += [
        Failure(429, {"message": "Retry later"}, {"Retry-After": "30"}),
        Failure(503, {"message": "GitLab is not responding"}),
    ]
    forge = GitLabForge(token=TOKEN)
    for expected_status in (429, 503):
        with pytest.raises(ForgeError) as caught:
            await forge.get(repo, 1)
        assert caught.value.retriable and caught.value.status == expected_status
    assert caught.value.retry_after is None


async def test_the_token_never_shows_in_errors(gitlab: FakeGitLab, repo: RepoRef) -> None:
    gitlab.failures.append(Failure(400, {"error": f"PRIVATE-TOKEN {TOKEN} is malformed"}))
    forge = forge_for("gitlab", None, TOKEN)
    with pytest.raises(ForgeError) as caught:
        await forge.comment(repo, 1, "x")
    assert TOKEN not in str(caught.value) and "malformed" in str(caught.value)
    assert not caught.value.retriable
    assert TOKEN not in repr(forge)
    with pytest.raises(ForgeError) as unauthorized:
        await GitLabForge(token="nope").get(repo, 1)
    assert unauthorized.value.status == 401 and "401 Unauthorized" in str(unauthorized.value)
