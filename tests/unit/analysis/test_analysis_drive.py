"""The generator protocol: drive, drive_async, protocol errors, suspend and idle phases."""

from __future__ import annotations

import pytest
from analysis_world import World, spec_of

from controller.analysis import (
    CanaryState,
    CheckReady,
    HookType,
    InitializePrimary,
    Phase,
    ProtocolError,
    Readiness,
    Request,
    RunMetricChecks,
    RunWebhooks,
    drive,
    drive_async,
    tick,
)


def test_drive_feeds_results_and_returns_the_decision() -> None:
    world = World()
    decision = drive(tick(spec_of(), CanaryState(), 0.0, "rev-a"), world)
    assert decision.state.phase == Phase.INITIALIZED
    assert world.requests[:2] == [InitializePrimary(), CheckReady("primary")]


async def test_drive_async_matches_drive() -> None:
    sync_world, async_world = World(), World()

    async def handle(request: Request) -> object:
        return async_world(request)

    expected = drive(tick(spec_of(), CanaryState(), 0.0, "rev-a"), sync_world)
    got = await drive_async(tick(spec_of(), CanaryState(), 0.0, "rev-a"), handle)
    assert got == expected
    assert async_world.requests == sync_world.requests


def test_wrong_result_type_is_a_protocol_error() -> None:
    def handler(request: Request) -> object:
        return True if isinstance(request, CheckReady) else None

    with pytest.raises(ProtocolError, match="CheckReady"):
        drive(tick(spec_of(), CanaryState(), 0.0, "rev-a"), handler)


def test_handler_failure_propagates_and_closes_the_flow() -> None:
    flow = tick(spec_of(), CanaryState(), 0.0, "rev-a")

    def handler(request: Request) -> object:
        raise RuntimeError("apiserver unavailable")

    with pytest.raises(RuntimeError, match="apiserver unavailable"):
        drive(flow, handler)
    with pytest.raises(StopIteration):
        next(flow)


def test_suspended_canary_yields_nothing_and_keeps_state() -> None:
    state = CanaryState(phase=Phase.PROGRESSING, canary_weight=10, last_applied_spec="rev-b")
    world = World()
    decision = drive(tick(spec_of(suspend=True), state, 5.0, "rev-c"), world)
    assert world.requests == []
    assert decision.state == state
    assert decision.requeue_after == 60.0


@pytest.mark.parametrize("phase", [Phase.TERMINATING, Phase.TERMINATED])
def test_finaliser_phases_are_left_alone(phase: Phase) -> None:
    state = CanaryState(phase=phase, last_applied_spec="rev-a")
    world = World()
    decision = drive(tick(spec_of(), state, 5.0, "rev-b"), world)
    assert world.requests == []
    assert decision.state == state


def test_readiness_result_is_checked_for_promoted_primary() -> None:
    state = CanaryState(phase=Phase.PROMOTING, last_applied_spec="rev-b")

    def handler(request: Request) -> object:
        return Readiness(True) if isinstance(request, CheckReady) else "yes"

    with pytest.raises(ProtocolError, match="CheckPrimaryPromoted"):
        drive(tick(spec_of(), state, 0.0, "rev-b"), handler)


@pytest.mark.parametrize(
    ("spec_overrides", "bad_for"),
    [({"has_webhooks_of": frozenset({HookType.ROLLBACK})}, RunWebhooks), ({}, RunMetricChecks)],
)
def test_hook_and_metric_results_are_type_checked(spec_overrides: dict[str, object], bad_for: type) -> None:
    state = CanaryState(phase=Phase.PROGRESSING, last_applied_spec="rev-b", canary_route_weight=5)
    world = World()

    def handler(request: Request) -> object:
        return "garbage" if isinstance(request, bad_for) else world(request)

    with pytest.raises(ProtocolError, match=bad_for.__name__):
        drive(tick(spec_of(**spec_overrides), state, 0.0, "rev-b"), handler)
