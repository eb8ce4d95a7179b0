"""The set of background deliveries a sender has started, and how it waits for or cancels them.

Alert delivery (``controller.reconcile.alerts``) and the event webhook (``event_webhook``) both
start sends that must not hold up the tick. A task leaves the set when it finishes, whatever its
outcome; ``drain`` waits until the set is empty (tasks started meanwhile included) and
``aclose`` cancels what is in flight. Neither raises a task's exception: each delivery reports
its own failures.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

__all__ = ["BackgroundTasks"]


class BackgroundTasks:
    """Tasks started and not yet finished."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    def start(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` in the background."""
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait until every task started so far, and every task they started, has finished."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def aclose(self) -> None:
        """Cancel the tasks in flight and wait for them to end."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
