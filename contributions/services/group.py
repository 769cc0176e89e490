"""Group commit: synchronous contributions to one instance share a transaction.

Requests run on the gateway's threads. Each one queues its planned contribution for its
instance and takes the instance's apply lock; whoever holds it applies everything queued so
far (up to `GROUP_COMMIT_MAX`, optionally after collecting for `GROUP_COMMIT_WINDOW_MS`) in
one transaction, and hands every request its own result once the batch has committed -- so a
200 still means durable. The batches form by themselves: while one commits, the next one
gathers; a lone request is a batch of one and waits for nobody.
"""

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings

from portal import metrics


@dataclass
class _Slot:
    item: object
    done: threading.Event = field(default_factory=threading.Event)
    result: object = None
    error: BaseException | None = None


class GroupCommit:
    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._queues: dict[object, list[_Slot]] = {}
        self._locks: dict[object, threading.Lock] = {}
        self.largest = 0  # the largest batch so far (for tests and the bench)

    def submit(self, key, item, apply: Callable[[list], list]):
        """Queue `item` for `key` (an instance) and return its result; `apply(items)` runs a
        batch in one transaction and returns one result per item, in order."""
        slot = _Slot(item)
        with self._mutex:
            self._queues.setdefault(key, []).append(slot)
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            window = settings.GROUP_COMMIT_WINDOW_MS / 1000
            if window and not slot.done.is_set():
                time.sleep(window)  # deliberately collect a little longer (off by default)
            size = max(1, settings.GROUP_COMMIT_MAX)
            while not slot.done.is_set():
                with self._mutex:
                    queue = self._queues[key]
                    batch, self._queues[key] = queue[:size], queue[size:]
                self._run(batch, apply)  # holds this slot until it is done (queued in order)
        if slot.error is not None:
            raise slot.error
        return slot.result

    def _run(self, batch: list[_Slot], apply) -> None:
        """Apply one batch; whatever happens, every one of its requests is answered."""
        try:
            metrics.sync_batch(len(batch))
            self.largest = max(self.largest, len(batch))
            results = apply([slot.item for slot in batch])
            for slot, result in zip(batch, results, strict=True):
                slot.result = result
        except BaseException as exc:  # the batch failed as a whole: every request sees why
            for slot in batch:
                slot.error = exc
        finally:
            for slot in batch:
                slot.done.set()


committer = GroupCommit()
