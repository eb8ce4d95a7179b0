"""The `AlertProvider` kind: where canary notifications are posted.

Invariants:
- Fields follow Flagger's CRD. The hook URL comes from `address` or from the `address` key of
  the Secret named by `secretRef`; the CRD requires exactly one of the two, and
  `controller.api.validation.validate_alert_provider` reports a manifest that breaks this.
"""

from collections.abc import Mapping
from typing import Any, Final, Literal

from pydantic import Field

from controller.api.model import ApiModel, LocalObjectRef, ObjectMeta, plain

__all__ = ["SERVED_NOTIFIER_TYPES", "AlertProvider", "AlertProviderSpec", "AlertProviderType"]

AlertProviderType = Literal["slack", "msteams", "discord", "rocket", "gchat"]

SERVED_NOTIFIER_TYPES: Final = ("discord", "gchat", "msteams", "rocket", "slack")
"""The notifier types this controller can send to (``controller.notify.registry`` serves these).

The same five as Flagger 1.44's AlertProvider enum. Flagger has no generic JSON notifier; a
generic endpoint receives the canary's events through ``type: event`` webhooks or the
controller's ``--event-webhook`` instead."""


class AlertProviderSpec(ApiModel):
    type: AlertProviderType
    channel: str | None = None
    username: str | None = None
    address: str | None = None
    proxy: str | None = None
    secret_ref: LocalObjectRef | None = None


class AlertProvider(ApiModel):
    api_version: str = "gitcanary.io/v1beta1"
    kind: str = "AlertProvider"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: AlertProviderSpec

    @classmethod
    def from_k8s(cls, obj: Mapping[str, Any]) -> "AlertProvider":
        """Parse an AlertProvider from Kubernetes JSON; raises pydantic.ValidationError."""
        return cls.model_validate(plain(obj))
