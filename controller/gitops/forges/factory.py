"""Pick the Forge adapter for an approval's provider: the one module that knows every forge.

Adding a forge is one module in this package (a class built from ``token=`` and ``api_url=``
that implements :class:`controller.gitops.forges.base.Forge`), its name in
:data:`~controller.gitops.forges.base.Provider`, one line in ``FORGES``, and its test.
Adapters never import this module; the promotion workflow (``controller.gitops.workflow.proposals``) does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from controller.gitops.forges.base import PROVIDERS, Forge
from controller.gitops.forges.gitea import GiteaForge
from controller.gitops.forges.github import GitHubForge
from controller.gitops.forges.gitlab import GitLabForge

__all__ = ["FORGES", "ForgeFactory", "forge_for"]


class ForgeFactory(Protocol):
    """How a forge adapter is built: its class, called with the token and the API base URL."""

    def __call__(self, *, token: str, api_url: str | None) -> Forge: ...


FORGES: Mapping[str, ForgeFactory] = {
    "gitea": GiteaForge,
    "github": GitHubForge,
    "gitlab": GitLabForge,
}
"""Provider name (``spec.analysis.approval.provider``) to forge adapter; keys are ``PROVIDERS``."""


def forge_for(provider: str, api_url: str | None, token: str) -> Forge:
    """The adapter for ``provider`` (github, gitlab or gitea) authenticated with ``token``.

    ``api_url``, when given, is used for every repository that carries no ``api_url`` of its own.
    """
    factory = FORGES.get(provider)
    if factory is None:
        raise ValueError(f"unknown forge provider {provider!r}; expected one of {', '.join(PROVIDERS)}")
    return factory(token=token, api_url=api_url.rstrip("/") if api_url else None)
