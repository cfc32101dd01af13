"""Passwords, tokens, and sealing a token so only its password can open it.

Runs argon2id, which costs ~30 ms of CPU: callers in a message loop hand these
methods to a worker pool (argon2-cffi releases the GIL while hashing).
argon2 is loaded on first use, so a client that only makes a wsess_uid or checks
a request does not pay for it (docs/design.md, "Start-up cost").

A `Credentials` draws its tokens and salts from the `Entropy` it is given and
hashes at the `Argon2Cost` it is given: the gatekeeper's come from its
`actors.env.Env`, so the simulator hands in seeded ones at the lowest cost
(docs/simulation.md, "The seam"). `SYSTEM` is the real one (OS randomness,
OWASP cost); the module's functions use it, for the tools.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from .sources import SYSTEM_ENTROPY, Entropy

if TYPE_CHECKING:
    from argon2 import PasswordHasher

__all__ = ["OWASP", "SYSTEM", "Argon2Cost", "Credentials", "hash_password", "hash_token",
           "new_token", "new_wsess_uid", "open_seal", "seal", "verify_password"]


@dataclass(frozen=True)
class Argon2Cost:
    time_cost: int
    memory_kib: int
    parallelism: int = 1


#: OWASP password storage cheat sheet: argon2id, m=19 MiB, t=2, p=1.
OWASP = Argon2Cost(time_cost=2, memory_kib=19 * 1024)


class Credentials:
    """Password hashes, tokens, session uids and seals. Any thread.

    Args:
        entropy: where tokens, session uids and seal salts come from.
        cost: argon2's cost, for hashes and seals alike.
        dummy_hash: what a login to an unknown account is checked against
            (default: a hash of a random password, made on first use).
        salts: where a password hash's salt comes from (default: argon2-cffi
            draws it from the OS itself). A simulation gives a stream of its own,
            so its stored hashes replay too without moving `entropy`'s draws.
    """

    def __init__(self, entropy: Entropy = SYSTEM_ENTROPY, cost: Argon2Cost = OWASP,
                 dummy_hash: str | None = None, salts: Entropy | None = None) -> None:
        self.entropy = entropy
        self.cost = cost
        self._dummy = dummy_hash
        self._salts = salts

    @cached_property
    def hasher(self) -> PasswordHasher:
        from argon2 import PasswordHasher
        cost = self.cost
        return PasswordHasher(time_cost=cost.time_cost, memory_cost=cost.memory_kib,
                              parallelism=cost.parallelism)

    def dummy_hash(self) -> str:
        """Unknown accounts are checked against this so they cost what a wrong password costs."""
        if self._dummy is None:
            self._dummy = self.hasher.hash(self.entropy.token_urlsafe(16))
        return self._dummy

    def hash_password(self, password: str) -> str:
        salts = self._salts
        return self.hasher.hash(password, salt=None if salts is None else salts.token_bytes(16))

    def verify_password(self, stored_hash: str | None, password: str) -> bool:
        """Constant work whether or not the account exists (`stored_hash` None)."""
        from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
        try:
            ok = self.hasher.verify(stored_hash or self.dummy_hash(), password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        return ok and stored_hash is not None

    def new_token(self) -> str:
        """256 random bits."""
        return self.entropy.token_urlsafe(32)

    def new_wsess_uid(self) -> str:
        return "s_" + self.entropy.token_urlsafe(16)

    def _keys(self, password: str, salt: bytes) -> tuple[bytes, bytes]:
        from argon2.low_level import Type, hash_secret_raw
        cost = self.cost
        raw = hash_secret_raw(password.encode(), salt, time_cost=cost.time_cost,
                              memory_cost=cost.memory_kib, parallelism=cost.parallelism,
                              hash_len=64, type=Type.ID)
        return raw[:32], raw[32:]

    def seal(self, secret: bytes, password: str) -> bytes:
        """Encrypt `secret` under a key stretched from `password`.

        An idempotent `auth` retry must get the first reply, token included, yet
        the database keeps no usable token. The retry carries the password, which
        opens the seal; a copied database does not. Layout: salt(16) tag(32) body.
        """
        salt = self.entropy.token_bytes(16)
        enc_key, mac_key = self._keys(password, salt)
        body = _xor(secret, hashlib.shake_256(enc_key).digest(len(secret)))
        tag = hmac.new(mac_key, salt + body, hashlib.sha256).digest()
        return salt + tag + body

    def open_seal(self, blob: bytes, password: str) -> bytes | None:
        """The sealed secret, or None when `password` is not the one it was sealed with."""
        salt, tag, body = blob[:16], blob[16:48], blob[48:]
        enc_key, mac_key = self._keys(password, salt)
        if not hmac.compare_digest(tag, hmac.new(mac_key, salt + body, hashlib.sha256).digest()):
            return None
        return _xor(body, hashlib.shake_256(enc_key).digest(len(body)))


def _xor(data: bytes, pad: bytes) -> bytes:
    """`data` XOR `pad` (as long), byte by byte: one big-int XOR, not a loop per byte."""
    return (int.from_bytes(data, "big") ^ int.from_bytes(pad, "big")).to_bytes(len(data), "big")


#: The real one: OS randomness, OWASP cost (tests/rules/conftest.py may cheapen it).
SYSTEM = Credentials()


def system() -> Credentials:
    """`SYSTEM` as it is now (a default read when a part is built, not at import)."""
    return SYSTEM


def hash_token(token: str) -> bytes:
    """Tokens are 256-bit random, so a plain digest is enough: only it is stored."""
    return hashlib.sha256(token.encode()).digest()


# The real `Credentials`, as functions: for the tools (bench, baseline, differential).
def hash_password(password: str) -> str:
    return SYSTEM.hash_password(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    return SYSTEM.verify_password(stored_hash, password)


def new_token() -> str:
    return SYSTEM.new_token()


def new_wsess_uid() -> str:
    return SYSTEM.new_wsess_uid()


def seal(secret: bytes, password: str) -> bytes:
    return SYSTEM.seal(secret, password)


def open_seal(blob: bytes, password: str) -> bytes | None:
    return SYSTEM.open_seal(blob, password)
