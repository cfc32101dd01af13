"""A queue that no one key can fill: items per key, served round-robin over keys.

What the gatekeeper's password work and the backends' reads wait in, keyed by
the client's source address (docs/design.md, "Fairness"). One key holds at most
`per_key` items and all keys together at most `total`; past either bound `push`
says which, and the caller answers that request alone (its key's bound:
RATE_LIMITED, the total: UNAVAILABLE). `pop` takes one item from each key with
work in turn, so a key with a thousand items waiting delays another key's one
item by at most one item per other key.
"""

from __future__ import annotations

import enum
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

__all__ = ["FairQueue", "Refused"]

T = TypeVar("T")


class Refused(enum.Enum):
    """Why `FairQueue.push` did not take an item."""

    KEY = "this key holds its share"
    ALL = "the queue is full"


class FairQueue(Generic[T]):
    """Plain object, used by the one thread that owns it."""

    def __init__(self, per_key: int, total: int) -> None:
        if per_key < 1 or total < per_key:
            raise ValueError("need 1 <= per_key <= total")
        self.per_key = per_key
        self.total = total
        # Keys with items waiting, next to be served first.
        self._queues: OrderedDict[str, deque[T]] = OrderedDict()
        self._len = 0

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[T]:
        for queue in self._queues.values():
            yield from queue

    def held(self, key: str) -> int:
        """Items `key` has waiting."""
        queue = self._queues.get(key)
        return len(queue) if queue is not None else 0

    def push(self, key: str, item: T, *, capped: bool = True) -> Refused | None:
        """Queue `item` under `key`; None if taken, else why not. `capped` False: the
        key may hold more than `per_key` (only the total bounds it)."""
        if capped and self.held(key) >= self.per_key:
            return Refused.KEY
        if self._len >= self.total:
            return Refused.ALL
        self._queues.setdefault(key, deque()).append(item)
        self._len += 1
        return None

    def pop(self) -> tuple[str, T] | None:
        """The next item in round-robin order over keys, None if empty."""
        if not self._queues:
            return None
        key, queue = next(iter(self._queues.items()))
        item = queue.popleft()
        self._len -= 1
        if queue:
            self._queues.move_to_end(key)  # its next item waits for every other key's
        else:
            del self._queues[key]
        return key, item

    def remove(self, matches: Callable[[T], bool]) -> list[T]:
        """Take out every item `matches` holds for (e.g. those of a rolled-back batch)."""
        removed: list[T] = []
        for key in list(self._queues):
            queue = self._queues[key]
            kept = deque(item for item in queue if not matches(item))
            removed += [item for item in queue if matches(item)]
            if kept:
                self._queues[key] = kept
            else:
                del self._queues[key]
        self._len -= len(removed)
        return removed
