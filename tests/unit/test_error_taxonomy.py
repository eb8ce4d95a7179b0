"""Every exception class gitcanary defines is of one kind of ``controller.errors``.

Code decides about a failure by its kind (``TemporaryError``, ``PERMANENT``, ``BestEffortError``;
``FAILURES`` for code that goes on after any failed outside call), never by a hand-kept list of
concrete classes: a list that missed ``NotifyError`` once let a failing Slack endpoint block
rollbacks. A new exception class outside the taxonomy fails here.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import controller
from controller.errors import FAILURES, PERMANENT, BestEffortError, TemporaryError

KINDS: tuple[type[BaseException], ...] = (TemporaryError, BestEffortError, *PERMANENT)

OUTSIDE = {
    # A defect of the caller (a driver answering the engine with the wrong type), never an
    # outcome of the world: it must surface as a crash in tests, not be retried.
    "controller.analysis.requests.ProtocolError",
    # Control flow inside one function family, caught where it is raised, never a failure.
    "controller.api.gotemplate.evaluate._Break",
    "controller.api.gotemplate.evaluate._Continue",
    "controller.gitops.plumbing.repo._PushRejected",
    "controller.cli.watch.WatchExpired",
    # The lease was lost: the process stops leading (controller.leader), nothing is retried.
    "controller.leader.LeadershipLost",
    # The root and the two families whose every subclass is of one kind (checked below).
    "controller.errors.GitcanaryError",
    "controller.metrics.errors.MetricsError",
    "controller.url_policy.OutboundError",
}
SEPARATE_PROGRAM = "controller.loadtester."
"""The load tester is its own server process (``gitcanary loadtester``); its errors never reach
the controller's reconcile loop."""


def defined_exceptions() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(controller.__path__, "controller."):
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__ == info.name:
                found[f"{info.name}.{name}"] = obj
    return found


def test_every_exception_class_is_of_one_kind() -> None:
    exceptions = defined_exceptions()
    assert len(exceptions) > 20, sorted(exceptions)
    outside = sorted(
        name
        for name, cls in exceptions.items()
        if not issubclass(cls, KINDS) and name not in OUTSIDE and not name.startswith(SEPARATE_PROGRAM)
    )
    assert outside == [], "exception classes outside controller.errors' kinds"


def test_a_family_base_is_never_of_two_kinds_and_its_members_are_of_one() -> None:
    exceptions = defined_exceptions()
    for family in ("controller.metrics.errors.MetricsError", "controller.url_policy.OutboundError"):
        members = [
            c
            for c in exceptions.values()
            if issubclass(c, exceptions[family]) and c is not exceptions[family]
        ]
        assert members, family
        for member in members:
            kinds = [k for k in (TemporaryError, *PERMANENT, BestEffortError) if issubclass(member, k)]
            assert kinds, member
            assert not (issubclass(member, TemporaryError) and issubclass(member, PERMANENT)), member


def test_the_write_back_and_forge_errors_are_caught_by_kind() -> None:
    exceptions = defined_exceptions()
    for name in (
        "controller.gitops.plumbing.clone.WriteBackError",
        "controller.gitops.forges.base.ForgeError",
        "controller.gitops.workflow.approval.ApprovalEditError",
        "controller.gitops.workflow.proposals.ForgeSettingsError",
        "controller.gitops.plumbing.credentials.CredentialsError",
        "controller.flux.correlation.SourceNotFound",
        "controller.kube.KubeError",
    ):
        short = name.rsplit(".", 1)[1]
        cls = next((c for c in exceptions.values() if c.__name__ == short), None)
        assert cls is not None, name
        assert issubclass(cls, FAILURES), name
