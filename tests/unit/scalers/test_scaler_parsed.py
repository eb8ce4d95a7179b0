"""The scalers read the typed Canary, and still find the autoscaler of a Canary the models reject
(the deletion finalizer resumes it)."""

import itertools
from typing import Any

import pytest

from controller.api import parsed_canary
from controller.scalers.base import ScalerError, autoscaler_ref

Obj = dict[str, Any]
GENERATIONS = itertools.count(1)
REF = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "name": "podinfo"}


def canary(**spec: Any) -> Obj:
    """A Canary as served: each one a new generation of the same uid."""
    return {
        "metadata": {
            "name": "podinfo",
            "namespace": "test",
            "uid": "u-scaler",
            "generation": next(GENERATIONS),
        },
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
            "analysis": {"interval": "1m", "threshold": 5, "stepWeight": 10},
            **spec,
        },
    }


def test_the_reference_is_the_parsed_canarys() -> None:
    obj = canary(autoscalerRef=REF)
    ref = autoscaler_ref(obj)
    assert ref is not None and ref is parsed_canary(obj).spec.autoscaler_ref
    assert autoscaler_ref(canary()) is None


def test_an_invalid_canary_still_names_its_autoscaler() -> None:
    obj = canary(autoscalerRef=REF, analysis={"interval": "1m", "threshold": "five"})
    ref = autoscaler_ref(obj)
    assert ref is not None and (ref.kind, ref.name) == ("HorizontalPodAutoscaler", "podinfo")
    with pytest.raises(ScalerError, match="autoscalerRef is invalid"):
        autoscaler_ref(canary(autoscalerRef={"kind": "HorizontalPodAutoscaler"}, suspend="yes"))
