"""The history of a run as canonical text, and its SHA-256.

One line per step: simulated time (microseconds), the lane that ran, what it
did. Nothing in a line depends on the process: no ids, addresses, wall time,
thread names, hash or set order. Same seed, same build, same options: the same
lines, so the same hash (tests/simulation/test_determinism.py).
"""

from __future__ import annotations

import hashlib

__all__ = ["Trace"]

#: Lines hashed at once (the hash of the whole text does not depend on it).
_CHUNK = 4096


class Trace:
    def __init__(self, keep: bool = False) -> None:
        self._hash = hashlib.sha256()
        self.keep = keep
        self._kept: list[str] = []
        self._pending: list[str] = []
        self._flushed = 0

    def add(self, now: float, line: str) -> None:
        # `%d` truncates as `int()` does (now >= 0, so + 0.5 rounds): the same text
        # as `f"{int(now * 1e6 + 0.5):>14d}"` at half the cost, once per step.
        pending = self._pending
        pending.append("%14d %s\n" % (now * 1e6 + 0.5, line))  # noqa: UP031 - see above
        if len(pending) >= _CHUNK:
            self._flush()

    @property
    def count(self) -> int:
        """Lines so far."""
        return self._flushed + len(self._pending)

    @property
    def lines(self) -> list[str]:
        """Every line so far (kept only with `keep`)."""
        if not self.keep:
            return []
        return self._kept + self._pending

    def _flush(self) -> None:
        pending = self._pending
        self._hash.update("".join(pending).encode())
        self._flushed += len(pending)
        if self.keep:
            self._kept += pending
        self._pending = []

    def hexdigest(self) -> str:
        self._flush()
        return self._hash.hexdigest()
