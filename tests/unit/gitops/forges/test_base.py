from __future__ import annotations

import pytest

import controller.gitops.forges as forges
from controller.gitops.forges import (
    GiteaForge,
    GitHubForge,
    GitLabForge,
    RemoteURLError,
    RepoRef,
    default_api_url,
    forge_for,
)


@pytest.mark.parametrize(
    ("url", "host", "path", "web_root"),
    [
        ("https://github.com/org/repo.git", "github.com", "org/repo", "https://github.com"),
        ("https://github.com/org/repo", "github.com", "org/repo", "https://github.com"),
        ("git@github.com:org/repo.git", "github.com", "org/repo", "https://github.com"),
        ("ssh://git@github.com/org/repo.git", "github.com", "org/repo", "https://github.com"),
        (
            "ssh://git@gitlab.example.com:2222/group/sub/project.git",
            "gitlab.example.com",
            "group/sub/project",
            "https://gitlab.example.com",
        ),
        (
            "https://gitlab.com/group/sub/deeper/project.git/",
            "gitlab.com",
            "group/sub/deeper/project",
            "https://gitlab.com",
        ),
        ("http://gitea.local:3000/org/repo.git", "gitea.local", "org/repo", "http://gitea.local:3000"),
        (
            "https://user:pw@Gitea.Example.com:8443/org/repo.git",
            "gitea.example.com",
            "org/repo",
            "https://gitea.example.com:8443",
        ),
        ("gitea.example.com:org/repo.git", "gitea.example.com", "org/repo", "https://gitea.example.com"),
    ],
)
def test_parse_remote_urls(url: str, host: str, path: str, web_root: str) -> None:
    ref = RepoRef.parse(url)
    assert (ref.host, ref.path, ref.web_root, ref.api_url) == (host, path, web_root, None)
    assert "pw" not in repr(ref)


def test_owner_and_name_split_on_the_last_segment() -> None:
    ref = RepoRef.parse("git@gitlab.com:group/sub/project.git")
    assert (ref.owner, ref.name) == ("group/sub", "project")


@pytest.mark.parametrize(
    "url", ["", "https://github.com/repo.git", "ftp://host/org/repo", "/local/path/repo", "https:///org/repo"]
)
def test_invalid_remote_urls(url: str) -> None:
    with pytest.raises(RemoteURLError):
        RepoRef.parse(url)


def test_api_url_override_is_normalised() -> None:
    ref = RepoRef.parse("git@ghe.example.com:org/repo.git", api_url="https://ghe.example.com/api/v3/")
    assert ref.api_url == "https://ghe.example.com/api/v3"


@pytest.mark.parametrize(
    ("provider", "url", "api"),
    [
        ("github", "git@github.com:org/repo.git", "https://api.github.com"),
        ("github", "https://ghe.example.com/org/repo", "https://ghe.example.com/api/v3"),
        ("gitlab", "https://gitlab.com/group/sub/project", "https://gitlab.com/api/v4"),
        ("gitlab", "ssh://git@gitlab.internal:2222/g/p.git", "https://gitlab.internal/api/v4"),
        ("gitea", "http://gitea.local:3000/org/repo.git", "http://gitea.local:3000/api/v1"),
    ],
)
def test_default_api_urls(provider: forges.Provider, url: str, api: str) -> None:
    assert default_api_url(provider, RepoRef.parse(url)) == api


def test_registry_selects_the_adapter_and_hides_the_token() -> None:
    token = "tok-very-secret-123"
    adapters = {
        provider: forge_for(provider, "https://api.example.com/", token) for provider in forges.PROVIDERS
    }
    assert isinstance(adapters["github"], GitHubForge)
    assert isinstance(adapters["gitlab"], GitLabForge)
    assert isinstance(adapters["gitea"], GiteaForge)
    for adapter in adapters.values():
        assert token not in repr(adapter) and token not in str(adapter)
        assert isinstance(adapter, GitHubForge | GitLabForge | GiteaForge)
        assert adapter.api_url == "https://api.example.com"
    with pytest.raises(ValueError, match="unknown forge provider 'bitbucket'"):
        forge_for("bitbucket", None, token)


def test_public_surface() -> None:
    assert sorted(forges.__all__) == sorted(
        [
            "PROVIDERS",
            "Forge",
            "ForgeError",
            "GitHubForge",
            "GitLabForge",
            "GiteaForge",
            "Provider",
            "PullRequest",
            "PullRequestState",
            "RemoteURLError",
            "RepoRef",
            "default_api_url",
            "forge_for",
        ]
    )
    for name in forges.__all__:
        assert hasattr(forges, name)
