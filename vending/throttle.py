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
        self._blocked_until: dict[str, float] = {}

    def _limit(self, key: str) -> int:
        c = self.config
        return c.account_failures if key.startswith("u:") else c.address_failures

    @staticmethod
    def _keys(user_uid: str, address: str | None) -> list[str]:
        return ["u:" + user_uid] + (["a:" + address] if address else [])

    def blocked(self, user_uid: str, address: str | None, now: float) -> bool:
        return any(self._blocked_until.get(k, 0.0) > now for k in self._keys(user_uid, address))

    def failed(self, user_uid: str, address: str | None, now: float) -> None:
        for key in self._keys(user_uid, address):
            limit = self._limit(key)
            # Re-inserted, so dict order is least recently failed first.
            times = self._failures.pop(key, None) or deque(maxlen=limit)
            times.append(now)
            self._failures[key] = times
            if len(times) == limit and now - times[0] <= self.config.window:
                self._blocked_until[key] = now + self.config.cooldown
        while len(self._failures) > self.config.max_keys:
            key = next(iter(self._failures))
            del self._failures[key]
            self._blocked_until.pop(key, None)
        if len(self._blocked_until) > self.config.max_keys:
            self._blocked_until = {k: t for k, t in self._blocked_until.items() if t > now}

    def succeeded(self, user_uid: str) -> None:
        self._failures.pop("u:" + user_uid, None)
        self._blocked_until.pop("u:" + user_uid, None)
