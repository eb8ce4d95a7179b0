"""The background deliveries of alert delivery and the event webhook (notify/background.py)."""

from __future__ import annotations

import asyncio

from controller.notify.background import BackgroundTasks


async def test_drain_waits_for_tasks_started_by_tasks_and_survives_their_errors() -> None:
    tasks = BackgroundTasks()
    done: list[str] = []

    async def second() -> None:
        await asyncio.sleep(0.01)
        done.append("second")

    async def first() -> None:
        tasks.start(second())
        done.append("first")
        raise RuntimeError("a delivery reports its own failure")

    tasks.start(first())
    assert len(tasks) == 1
    await tasks.drain()
    assert done == ["first", "second"]
    assert not tasks


async def test_aclose_cancels_what_is_in_flight() -> None:
    tasks = BackgroundTasks()
    cancelled = asyncio.Event()

    async def forever() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    tasks.start(forever())
    await asyncio.sleep(0)
    await tasks.aclose()
    assert cancelled.is_set()
    await asyncio.sleep(0)
    assert not tasks
