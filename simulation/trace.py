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
        self.lines: list[str] = []
        self._pending: list[str] = []
        self.count = 0

    def add(self, now: float, line: str) -> None:
        # `%d` truncates as `int()` does (now >= 0, so + 0.5 rounds): the same text
        # as `f"{int(now * 1e6 + 0.5):>14d}"` at half the cost, once per step.
        text = "%14d %s\n" % (now * 1e6 + 0.5, line)  # noqa: UP031 - see above
        self._pending.append(text)
        self.count += 1
        if self.keep:
            self.lines.append(text)
        if len(self._pending) >= _CHUNK:
            self._flush()

    def _flush(self) -> None:
        self._hash.update("".join(self._pending).encode())
        self._pending.clear()

    def hexdigest(self) -> str:
        self._flush()
        return self._hash.hexdigest()
