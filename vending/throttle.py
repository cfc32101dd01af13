"""Failed-login throttling on three keys: (account, address), address, account.

docs/protocol.md §7 (RATE_LIMITED) sets the floor: never refuse before 10 failures for an account
from one address, 30 from one address, or 100 for an account from all addresses
within a minute. Each failure is counted on all three keys; a key that reaches
its limit within `window` is refused for `cooldown` seconds from that failure.

Why three keys, and why these limits:
- (account, address) at 10 stops one source guessing one account's password,
  without locking the owner out from anywhere else.
- address at 30 stops one source spraying one password over many accounts.
- account at 100 is the only key shared by every address: it bounds a guess
  spread over many sources, at a level a single source cannot reach alone
  (its own two keys stop it at 10 for that account and 30 in all).
A success clears only its own (account, address) key: the address and account
counts record other guesses, which a right password elsewhere does not undo.

A request without an address (in-process, inproc://) counts as one local source.

Known addresses (vending/known.py): an address that logged in to (or registered)
the account within 30 days is neither refused by nor counted in the account-wide key, so a
spray from many addresses locks everyone out of the account but its owner at
the addresses it uses.

Registrations are counted apart, per address: more than `address_registrations`
within `window` and the next is refused (each costs an argon2 hash whatever its
outcome, so every attempt counts). In-process callers (no address) are the
embedding program itself and are not counted.

Memory is bounded by `max_keys` entries, each holding at most its limit of
timestamps (a spray of distinct names and addresses fills the default cap with
~36 MB, measured with tracemalloc). Entries are kept least recently failed first; past the cap the
oldest is forgotten. Every counted failure costs an argon2 check (~30 ms of a
small worker pool), so filling the default cap within one cooldown would take
far longer than the cooldown: what is forgotten has already stopped mattering.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

__all__ = ["LoginThrottle", "ThrottleConfig"]


@dataclass(frozen=True)
class ThrottleConfig:
    pair_failures: int = 10       # one account from one address
    address_failures: int = 30    # one address, any accounts
    account_failures: int = 100   # one account, all addresses
    address_registrations: int = 30  # one address, within the window
    window: float = 60.0
    cooldown: float = 60.0
    max_keys: int = 100_000


class _Entry:
    # A plain list, not a deque(maxlen): an empty deque takes a 64-slot block,
    # ~0.5 KiB per key, and most keys under a spray hold one failure.
    __slots__ = ("blocked_until", "times")

    def __init__(self) -> None:
        self.times: list[float] = []
        self.blocked_until = 0.0


class LoginThrottle:
    """Plain object, used by the one thread that owns the accounts."""

    def __init__(self, config: ThrottleConfig | None = None) -> None:
        self.config = config or ThrottleConfig()
        # OrderedDict, not dict: popping a dict's first key again and again walks the
        # deleted slots left at its front, quadratic under a spray.
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def __len__(self) -> int:
        """Keys tracked (never more than `config.max_keys`)."""
        return len(self._entries)

    def _keys(self, user_uid: str, address: str | None,
              known: bool = False) -> tuple[tuple[str, int], ...]:
        # user_uid holds no space (docs/protocol.md's username alphabet), so the
        # pair key is unambiguous.
        c, addr = self.config, address or "local"
        keys = ((f"p:{user_uid} {addr}", c.pair_failures), (f"a:{addr}", c.address_failures))
        return keys if known else (*keys, (f"u:{user_uid}", c.account_failures))

    def blocked(self, user_uid: str, address: str | None, now: float,
                known: bool = False) -> bool:
        """A password check for `user_uid` from `address` must not run; `known`: the
        address is a known one for the account (the account-wide key spares it)."""
        for key, _ in self._keys(user_uid, address, known):
            entry = self._entries.get(key)
            if entry is not None and entry.blocked_until > now:
                return True
        return False

    def failed(self, user_uid: str, address: str | None, now: float,
               known: bool = False) -> None:
        for key, limit in self._keys(user_uid, address, known):
            entry = self._entries.get(key)
            if entry is None:
                entry = self._entries[key] = _Entry()
            else:
                self._entries.move_to_end(key)  # kept least recently failed first
            entry.times.append(now)
            if len(entry.times) > limit:
                del entry.times[0]
            if len(entry.times) == limit and self._within_window(entry.times[0], now):
                entry.blocked_until = now + self.config.cooldown
        while len(self._entries) > self.config.max_keys:
            self._entries.popitem(last=False)

    def _within_window(self, then: float, now: float) -> bool:
        """Failures and registrations alike: one exactly `window` old still counts
        (the stricter reading of "within a minute": it errs towards refusing)."""
        return now - then <= self.config.window

    def succeeded(self, user_uid: str, address: str | None) -> None:
        self._entries.pop(self._keys(user_uid, address)[0][0], None)

    def register(self, address: str | None, now: float) -> bool:
        """Count a registration from `address`; False (not counted) if it is one
        more than `address_registrations` within `window`."""
        if address is None:
            return True
        key, limit = f"r:{address}", self.config.address_registrations
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = _Entry()
        elif len(entry.times) == limit and self._within_window(entry.times[0], now):
            return False
        self._entries.move_to_end(key)
        entry.times.append(now)
        if len(entry.times) > limit:
            del entry.times[0]
        while len(self._entries) > self.config.max_keys:
            self._entries.popitem(last=False)
        return True
