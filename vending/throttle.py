"""Failed-login throttling per account and per source address.

SPEC.md sets the floor: never refuse before 10 failures for an account or 30
from one address within a minute. Past the threshold, that key is refused for
`cooldown` seconds from its last failure; a successful login clears the account.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

__all__ = ["LoginThrottle", "ThrottleConfig"]


@dataclass(frozen=True)
class ThrottleConfig:
    account_failures: int = 10
    address_failures: int = 30
    window: float = 60.0
    cooldown: float = 60.0
    #: Keys tracked at most; the oldest are forgotten first so a spray of
    #: usernames or addresses cannot grow memory without bound.
    max_keys: int = 100_000


class LoginThrottle:
    def __init__(self, config: ThrottleConfig | None = None) -> None:
        self.config = config or ThrottleConfig()
        self._failures: dict[str, deque[float]] = {}

    def _limit(self, key: str) -> int:
        c = self.config
        return c.account_failures if key.startswith("u:") else c.address_failures

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        horizon = now - max(self.config.window, self.config.cooldown)
        while times and times[0] < horizon:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def _blocked(self, key: str, now: float) -> bool:
        times = self._recent(key, now)
        in_window = sum(1 for t in times if t >= times[-1] - self.config.window) if times else 0
        return in_window >= self._limit(key) and now - times[-1] < self.config.cooldown

    def blocked(self, user_uid: str, address: str | None, now: float) -> bool:
        keys = ["u:" + user_uid] + (["a:" + address] if address else [])
        return any(self._blocked(k, now) for k in keys)

    def failed(self, user_uid: str, address: str | None, now: float) -> None:
        for key in ["u:" + user_uid] + (["a:" + address] if address else []):
            times = self._failures.pop(key, None) or deque(maxlen=self._limit(key) * 4)
            times.append(now)
            self._failures[key] = times  # re-inserted: dict order is least recently failed first
        while len(self._failures) > self.config.max_keys:
            del self._failures[next(iter(self._failures))]

    def succeeded(self, user_uid: str) -> None:
        self._failures.pop("u:" + user_uid, None)
