"""Forge adapters (GitHub, GitLab, Gitea) for promotion approval by pull request.

One adapter per file behind the three-method :class:`Forge` Protocol; :func:`forge_for`
(:mod:`controller.gitops.forges.factory`) picks one by provider name. See
:mod:`controller.gitops.forges.base` for the invariants.
"""

from controller.gitops.forges.base import (
    PROVIDERS,
    Forge,
    ForgeError,
    Provider,
    PullRequest,
    PullRequestState,
    RemoteURLError,
    RepoRef,
    default_api_url,
)
from controller.gitops.forges.factory import forge_for
from controller.gitops.forges.gitea import GiteaForge
from controller.gitops.forges.github import GitHubForge
from controller.gitops.forges.gitlab import GitLabForge

__all__ = [
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
