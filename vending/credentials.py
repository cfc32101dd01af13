"""Passwords, tokens, and sealing a token so only its password can open it.

Runs argon2id, which costs ~30 ms of CPU: callers in a message loop hand these
functions to a worker pool (argon2-cffi releases the GIL while hashing).
argon2 is loaded on first use, so a client that only makes a wsess_uid or checks
a request does not pay for it (docs/design.md, "Start-up cost").
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from argon2 import PasswordHasher

__all__ = ["hash_password", "hash_token", "new_token", "new_wsess_uid",
           "open_seal", "seal", "verify_password"]

# OWASP password storage cheat sheet: argon2id, m=19 MiB, t=2, p=1.
_TIME_COST, _MEMORY_KIB, _PARALLELISM = 2, 19 * 1024, 1


@cache
def _hasher() -> PasswordHasher:
    from argon2 import PasswordHasher
    return PasswordHasher(time_cost=_TIME_COST, memory_cost=_MEMORY_KIB,
                          parallelism=_PARALLELISM)


@cache
def _dummy_hash() -> str:
    """Unknown accounts are checked against this so they cost what a wrong password costs."""
    return _hasher().hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Constant work whether or not the account exists (`stored_hash` None)."""
    from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
    try:
        ok = _hasher().verify(stored_hash or _dummy_hash(), password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    return ok and stored_hash is not None


def new_token() -> str:
    """256 bits from the OS CSPRNG."""
    return secrets.token_urlsafe(32)


def new_wsess_uid() -> str:
    return "s_" + secrets.token_urlsafe(16)


def hash_token(token: str) -> bytes:
    """Tokens are 256-bit random, so a plain digest is enough: only it is stored."""
    return hashlib.sha256(token.encode()).digest()


def _keys(password: str, salt: bytes) -> tuple[bytes, bytes]:
    from argon2.low_level import Type, hash_secret_raw
    raw = hash_secret_raw(password.encode(), salt, time_cost=_TIME_COST,
                          memory_cost=_MEMORY_KIB, parallelism=_PARALLELISM,
                          hash_len=64, type=Type.ID)
    return raw[:32], raw[32:]


def seal(secret: bytes, password: str) -> bytes:
    """Encrypt `secret` under a key stretched from `password`.

    An idempotent `auth` retry must get the first reply, token included, yet
    the database keeps no usable token. The retry carries the password, which
    opens the seal; a copied database does not. Layout: salt(16) tag(32) body.
    """
    salt = secrets.token_bytes(16)
    enc_key, mac_key = _keys(password, salt)
    pad = hashlib.shake_256(enc_key).digest(len(secret))
    body = bytes(a ^ b for a, b in zip(secret, pad, strict=True))
    tag = hmac.new(mac_key, salt + body, hashlib.sha256).digest()
    return salt + tag + body


def open_seal(blob: bytes, password: str) -> bytes | None:
    """The sealed secret, or None when `password` is not the one it was sealed with."""
    salt, tag, body = blob[:16], blob[16:48], blob[48:]
    enc_key, mac_key = _keys(password, salt)
    if not hmac.compare_digest(tag, hmac.new(mac_key, salt + body, hashlib.sha256).digest()):
        return None
    pad = hashlib.shake_256(enc_key).digest(len(body))
    return bytes(a ^ b for a, b in zip(body, pad, strict=True))
