"""Background tasks of a view: started on the loop, kept until done, awaited at shutdown."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class TaskGroup:
    """The tasks a window (or one of its parts) started and has not seen end yet.

    A failed task is logged as ``"a task of <owner> failed"``; nothing else notices it.
    """

    def __init__(self, owner: str = "the window") -> None:
        self.owner = owner
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Run ``coro`` on the loop (also before the loop runs: a window is built first)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = asyncio.get_event_loop()
        task = loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def pending(self) -> list[asyncio.Task[Any]]:
        return [task for task in self._tasks if not task.done()]

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("a task of %s failed", self.owner, exc_info=task.exception())

    async def finish(self, timeout: float = 15.0) -> None:
        """Let the pending tasks end within ``timeout`` seconds, then cancel the rest."""
        pending = self.pending()
        if not pending:
            return
        _done, still = await asyncio.wait(pending, timeout=timeout)
        for task in still:
            task.cancel()
        if still:
            await asyncio.wait(still, timeout=2)
