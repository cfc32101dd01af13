"""The history of a run as canonical text, and its SHA-256.

One line per step: simulated time (microseconds), the lane that ran, what it
did. Nothing in a line depends on the process: no ids, addresses, wall time,
thread names, hash or set order. Same seed, same build, same options: the same
lines, so the same hash (tests/simulation/test_determinism.py).
"""

from __future__ import annotations

import hashlib

__all__ = ["Trace"]


class Trace:
    def __init__(self, keep: bool = False) -> None:
        self._hash = hashlib.sha256()
        self.keep = keep
        self.lines: list[str] = []
        self.count = 0

    def add(self, now: float, line: str) -> None:
        text = f"{round(now * 1e6):>14d} {line}\n"
        self._hash.update(text.encode())
        self.count += 1
        if self.keep:
            self.lines.append(text)

    def hexdigest(self) -> str:
        return self._hash.hexdigest()
