"""The database lane: one thread per process that runs the pipeline's database work in batches.

Requests wait on the event loop (no thread of their own); what they ask of the database is
queued here and run by one thread, many at a time: while a batch commits, the next one
gathers, so the batches form by themselves under load and a lone request is a batch of one
that waits for nobody. Each request gets its own result (or its own exception) once its
batch is done -- for a contribution, once it has committed, so a 200 still means durable.

The thread is asgiref's thread-sensitive one: outside Django's request handler (the gateway
is a plain ASGI app) that is one thread per process; when the event loop was started by a
synchronous caller (`async_to_sync` from a command or a test) it is that caller's thread, as
for any thread-sensitive work. The serving task ends after `idle_seconds` without work.
Not for use inside Django's own ASGI request handling, whose thread-sensitive context ends
with each request.
"""

import asyncio
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from asgiref.sync import sync_to_async


@dataclass
class _Waiting:
    queue: deque = field(default_factory=deque)
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task | None = None
    kept: bool = False  # the last batch ended with more waiting: its thread kept the connection


class Lane:
    def __init__(self, run: Callable[[list], list], *, batch_max: Callable[[], int], idle_seconds: float = 30.0,
                 on_batch: Callable[[int], None] | None = None,
                 after_batch: Callable[[bool], None] | None = None) -> None:
        """`run(items)` does the database work of a batch on the lane's thread and returns one
        result per item, in order; a result that is an exception is raised to its caller.
        `after_batch(idle)` runs on the lane's thread after each batch, `idle` when nothing
        else waits (the lane hands its database connection back then, not between back-to-back
        batches)."""
        self.run = run
        self.after_batch = after_batch
        self.batch_max = batch_max
        self.idle_seconds = idle_seconds
        self.on_batch = on_batch
        self.largest = 0  # the largest batch so far (for tests and the bench)
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Waiting] = weakref.WeakKeyDictionary()

    async def submit(self, item):
        loop = asyncio.get_running_loop()
        waiting = self._loops.get(loop)
        if waiting is None:
            waiting = self._loops[loop] = _Waiting()
        future = loop.create_future()
        waiting.queue.append((item, future))
        waiting.wakeup.set()
        if waiting.task is None:
            waiting.task = loop.create_task(self._serve(waiting))
        result = await future
        if isinstance(result, BaseException):
            raise result
        return result

    async def _serve(self, waiting: _Waiting) -> None:
        try:
            run = sync_to_async(self._run, thread_sensitive=True)
            while True:
                if not waiting.queue:
                    if waiting.kept and self.after_batch is not None:  # what waited was cancelled: idle now
                        waiting.kept = False
                        await sync_to_async(self.after_batch, thread_sensitive=True)(True)
                    waiting.wakeup.clear()
                    try:
                        await asyncio.wait_for(waiting.wakeup.wait(), self.idle_seconds)
                    except TimeoutError:
                        return
                    continue
                size = max(1, self.batch_max())
                batch = [waiting.queue.popleft() for _ in range(min(size, len(waiting.queue)))]
                batch = [(item, future) for item, future in batch if not future.cancelled()]
                if not batch:
                    continue
                try:
                    results = await run([item for item, _ in batch], waiting)
                except BaseException as exc:  # the batch failed as a whole: each request sees why
                    for _, future in batch:
                        if not future.done():
                            future.set_result(exc)
                    if not isinstance(exc, Exception):
                        raise
                    continue
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)
        finally:
            waiting.task = None
            if waiting.queue:  # arrived while this one was ending: serve them
                try:
                    waiting.task = asyncio.get_running_loop().create_task(self._serve(waiting))
                except RuntimeError:  # the loop is closing (a synchronous caller's loop)
                    for _, future in waiting.queue:
                        if not future.done():
                            future.cancel()

    def _run(self, items: list, waiting: _Waiting) -> list:
        self.largest = max(self.largest, len(items))
        if self.on_batch is not None:
            self.on_batch(len(items))
        try:
            return self.run(items)
        finally:
            if self.after_batch is not None:
                # A racy read of the loop's queue, and harmless: if it was wrong, the serving
                # loop finds the queue empty and calls `after_batch(True)` itself.
                waiting.kept = bool(waiting.queue)
                self.after_batch(not waiting.kept)
