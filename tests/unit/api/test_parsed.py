"""parsed_canary / checked_canary: one parse per Canary generation, bounded, status-blind."""

from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from controller.api import PARSED_CACHE_SIZE, Canary, checked_canary, parsed_canary, parsed_or_none
from controller.api import parsed as parsed_module
from tests.unit.api.conftest import build_canary


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    parsed_module._CACHE.clear()
    yield
    parsed_module._CACHE.clear()


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The generations ``Canary.from_k8s`` is called for."""
    calls: list[str] = []
    real = Canary.from_k8s

    def counting(obj: Any) -> Canary:
        calls.append(str(obj["metadata"].get("generation")))
        return real(obj)

    monkeypatch.setattr(Canary, "from_k8s", counting)
    return calls


def served(generation: int = 1, uid: str = "u-1", **spec: Any) -> dict[str, Any]:
    """A Canary as the API server serves it: with a uid and a generation."""
    obj = build_canary(**spec)
    obj["metadata"].update(uid=uid, generation=generation)
    return obj


def test_the_same_generation_is_the_same_object(parses: list[str]) -> None:
    raw = served()
    first = parsed_canary(raw)
    assert parsed_canary(raw) is first
    assert parsed_canary(served()) is first, "an equal copy of the same generation"
    assert parses == ["1"]
    assert first.spec.service is not None and first.spec.service.port == 9898


def test_a_new_generation_or_new_labels_parse_again(parses: list[str]) -> None:
    first = parsed_canary(served())
    second = parsed_canary(served(generation=2, service={"port": 8080}))
    assert second is not first
    assert second.spec.service is not None and second.spec.service.port == 8080
    labelled = served(generation=2, service={"port": 8080})
    labelled["metadata"]["labels"] = {"team": "a"}
    third = parsed_canary(labelled)
    assert third is not second and third.metadata.labels == {"team": "a"}
    annotated = served(generation=2, service={"port": 8080})
    annotated["metadata"]["annotations"] = {"note": "x"}
    assert parsed_canary(annotated).metadata.annotations == {"note": "x"}
    assert parses == ["1", "2", "2", "2"]


def test_a_status_change_does_not_parse_again(parses: list[str]) -> None:
    raw = served()
    raw["status"] = {"phase": "Progressing", "canaryWeight": 10}
    first = parsed_canary(raw)
    raw["status"] = {"phase": "Succeeded", "canaryWeight": 0}
    assert parsed_canary(raw) is first
    assert parses == ["1"]
    assert first.status.phase is None, "the status is read from the raw object, never from here"


def test_without_uid_or_generation_it_parses_every_time(parses: list[str]) -> None:
    raw = build_canary()
    assert parsed_canary(raw) is not parsed_canary(raw)
    no_generation = served()
    del no_generation["metadata"]["generation"]
    parsed_canary(no_generation)
    parsed_canary(no_generation)
    assert len(parses) == 4
    assert not parsed_module._CACHE


def test_the_cache_is_bounded_and_least_recent_out() -> None:
    keep = served(uid="u-keep")
    kept = parsed_canary(keep)
    for i in range(PARSED_CACHE_SIZE + 50):
        parsed_canary(served(uid=f"u-{i}"))
        if i % 1000 == 0:
            parsed_canary(keep)  # recently used: stays
    assert len(parsed_module._CACHE) == PARSED_CACHE_SIZE
    assert parsed_canary(keep) is kept, "used recently: kept"
    assert parsed_module._key(served(uid="u-0")) not in parsed_module._CACHE, "the oldest went out"


def test_the_least_recently_used_goes_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parsed_module, "PARSED_CACHE_SIZE", 2)
    a, b, c = served(uid="a"), served(uid="b"), served(uid="c")
    first_a = parsed_canary(a)
    first_b = parsed_canary(b)
    assert parsed_canary(a) is first_a  # a is now the most recent
    parsed_canary(c)  # evicts b
    assert parsed_canary(a) is first_a
    assert parsed_canary(b) is not first_b


def test_an_invalid_spec_raises_every_time(parses: list[str]) -> None:
    bad = served(analysis={"threshold": "five"})
    for _ in range(2):
        with pytest.raises(ValidationError):
            parsed_canary(bad)
    assert parses == ["1", "1"]


def test_checked_canary_validates_once_per_generation(monkeypatch: pytest.MonkeyPatch) -> None:
    validations: list[int] = []
    real = parsed_module.validate_canary

    def counting(obj: Any) -> list[str]:
        validations.append(obj["metadata"].get("generation"))
        return real(obj)

    monkeypatch.setattr(parsed_module, "validate_canary", counting)
    problems, canary = checked_canary(served())
    assert problems == [] and canary is not None
    assert checked_canary(served()) == ([], canary)
    assert parsed_canary(served()) is canary, "the router and the runner share one parse"
    bad = served(generation=2, analysis={"threshold": "five"})
    problems, none = checked_canary(bad)
    assert none is None and any("threshold" in p for p in problems)
    assert checked_canary(bad) == (problems, None)
    assert validations == [1, 2]


def test_parsed_or_none_is_none_for_an_invalid_canary() -> None:
    assert parsed_or_none(served(analysis={"threshold": "five"})) is None
    assert parsed_or_none({"metadata": {"name": "x"}}) is None
    good = served()
    assert parsed_or_none(good) is parsed_canary(good)
