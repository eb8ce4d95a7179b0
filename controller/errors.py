"""The one error taxonomy: what a failure means for the tick that met it.

Every error the reconcile runner has to decide about derives from one of three kinds, so the
runner classifies by kind instead of keeping lists of concrete classes (a list that missed
``NotifyError`` once let a failing Slack endpoint block rollbacks)::

    GitcanaryError
     ├── TemporaryError      the world may change: keep the old state, Warning Event, retry the tick
     │    ├── kube.KubeError                    an API call failed (409 Conflict included)
     │    ├── reconcile.status.StatusConflict   the Canary changed under the tick, retries exhausted
     │    ├── gitops.plumbing.clone.WriteBackError   a git remote failed; the intent stays pending
     │    └── gitops.forges.base.ForgeError     a forge API call failed; asked again next tick
     ├── PermanentError      the spec or what it references is unusable: Valid=False condition and
     │    │                  one Warning Event per distinct message; re-checked, never a hot loop
     │    ├── workloads.primary.TargetError      (also a ValueError)
     │    ├── reconcile.status.StatusShapeError   a status the typed model does not describe
     │    ├── flux.correlation.SourceNotFound    (also a LookupError) no Git source can be inferred
     │    ├── gitops.plumbing.credentials.CredentialsError   (also a ValueError)
     │    ├── gitops.workflow.proposals.ForgeSettingsError  (also a LookupError)
     │    ├── gitops.workflow.approval.ApprovalEditError     the Canary manifest cannot be annotated
     │    ├── routers.RouterError
     │    ├── scalers.ScalerError
     │    └── reconcile.effects.metrics.MissingReference
     │                        a MetricTemplate or Secret the spec names (also a LookupError)
     └── BestEffortError     a side channel failed: a Warning Event only; never aborts a decision,
          └── notify.NotifyError                a tick, or the status patch
               └── notify.UnknownNotifier

``PERMANENT`` adds the two builtin kinds that mean bad input to ``PermanentError``: a
``ValueError`` (a parse or validation failure, e.g. pydantic's) and a ``LookupError`` (a key or
object that is not there). The runner catches ``TemporaryError`` and ``PERMANENT``, nothing else;
code that must go on after any failure of an outside call (the approval gate, the write-back
worker, promoteTo) catches ``FAILURES``, the same kinds.

Invariants:
- A ``BestEffortError`` never reaches the runner: the code that starts a best-effort action
  (``controller.reconcile.alerts``) turns it into an Event where it happens.
- Messages are safe to show in Events and conditions: no credentials, no URL that may embed a
  token, at most a short sanitized fragment of a response body.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "DEFAULT_RETRY_DELAY",
    "FAILURES",
    "PERMANENT",
    "BestEffortError",
    "GitcanaryError",
    "PermanentError",
    "TemporaryError",
]

DEFAULT_RETRY_DELAY: Final = 10.0
"""Seconds before a tick that met a ``TemporaryError`` runs again, unless the error says."""


class GitcanaryError(Exception):
    """The root of the taxonomy; catch a kind below it, not this."""


class TemporaryError(GitcanaryError):
    """Retry the tick later; the state is not changed by the failed tick.

    ``delay`` is the suggested wait in seconds (as in kopf's ``TemporaryError(delay=...)``).
    """

    def __init__(self, message: str, *, delay: float = DEFAULT_RETRY_DELAY) -> None:
        super().__init__(message)
        self.delay = delay


class PermanentError(GitcanaryError):
    """Retrying now will not help: set the condition, record a Warning Event, wait for a change."""


class BestEffortError(GitcanaryError):
    """A failure of a side channel: record a Warning Event; never abort a decision."""


PERMANENT: Final[tuple[type[Exception], ...]] = (PermanentError, ValueError, LookupError)
"""What a tick treats as permanent: the taxonomy's kind plus the builtins that mean bad input."""

FAILURES: Final[tuple[type[Exception], ...]] = (TemporaryError, *PERMANENT)
"""Every failure of a temporary or permanent kind: what code that goes on after a failed outside
call catches (best-effort errors are turned into Events where they happen)."""
