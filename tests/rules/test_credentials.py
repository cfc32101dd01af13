"""`Credentials` (vending/credentials.py): what it makes comes from the entropy and
the argon2 cost it is given, and nothing else (docs/design.md, "What a part is
given: the Env")."""

from __future__ import annotations

import base64
import hashlib
import hmac
import random

import pytest
from argon2.low_level import Type, hash_secret_raw

from vending import credentials
from vending.credentials import Argon2Cost, Credentials

CHEAP = Argon2Cost(time_cost=1, memory_kib=64)


class Seeded:
    """Entropy from a seeded RNG, counting what it was asked for."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self.asked: list[int] = []

    def token_bytes(self, nbytes: int) -> bytes:
        self.asked.append(nbytes)
        return self._rng.getrandbits(8 * nbytes).to_bytes(nbytes, "big")

    def token_urlsafe(self, nbytes: int) -> str:
        return self.token_bytes(nbytes).hex()

    def uuid_hex(self) -> str:
        return f"{self._rng.getrandbits(128):032x}"


def test_tokens_uids_and_seals_are_drawn_from_the_given_entropy_only() -> None:
    made = []
    for _ in range(2):
        entropy = Seeded(5)
        creds = Credentials(entropy, CHEAP)
        made.append((creds.new_token(), creds.new_wsess_uid(),
                     creds.seal(b"secret", "pw"), entropy.asked))
    assert made[0] == made[1]
    token, wsess, sealed, asked = made[0]
    assert asked == [32, 16, 16]  # 256-bit token, 128-bit wsess_uid, a 16-byte salt
    assert wsess.startswith("s_") and wsess[2:] != token
    assert len(sealed) == 16 + 32 + len(b"secret")  # salt, tag, body
    assert Credentials(Seeded(6), CHEAP).new_token() != token


def test_a_seal_opens_with_its_password_only() -> None:
    creds = Credentials(Seeded(1), CHEAP)
    blob = creds.seal(b"the token", "right")
    assert creds.open_seal(blob, "right") == b"the token"
    assert creds.open_seal(blob, "wrong") is None
    # Another cost derives other keys: the cost is part of what opens it.
    assert Credentials(Seeded(1), Argon2Cost(2, 64)).open_seal(blob, "right") is None


def test_hashes_verify_at_the_given_cost_and_unknown_accounts_never_pass() -> None:
    creds = Credentials(Seeded(2), CHEAP)
    stored = creds.hash_password("pw")
    assert "$m=64,t=1,p=1$" in stored
    assert creds.verify_password(stored, "pw")
    assert not creds.verify_password(stored, "other")
    assert not creds.verify_password("not a hash", "pw")
    # No account: checked against the dummy hash (the same work), and never true,
    # not even for the dummy's own password.
    dummy = Credentials(Seeded(2), CHEAP, dummy_hash=creds.hash_password("dummy"))
    assert not dummy.verify_password(None, "dummy")


def test_salts_come_from_their_own_stream_when_one_is_given() -> None:
    a = Credentials(Seeded(3), CHEAP, salts=Seeded(9)).hash_password("pw")
    b = Credentials(Seeded(4), CHEAP, salts=Seeded(9)).hash_password("pw")
    assert a == b  # the salt stream decides the hash; the token entropy is untouched
    entropy = Seeded(3)
    Credentials(entropy, CHEAP, salts=Seeded(9)).hash_password("pw")
    assert entropy.asked == []
    # Without one, argon2 draws its own salt: two hashes of one password differ.
    plain = Credentials(Seeded(3), CHEAP)
    assert plain.hash_password("pw") != plain.hash_password("pw")


def test_the_module_functions_are_the_system_credentials(
        monkeypatch: pytest.MonkeyPatch) -> None:
    system = Credentials(Seeded(8), CHEAP)
    monkeypatch.setattr(credentials, "SYSTEM", system)
    assert credentials.system() is system
    twin = Credentials(Seeded(8), CHEAP)
    assert credentials.new_token() == twin.new_token()
    assert credentials.new_wsess_uid() == twin.new_wsess_uid()
    blob = credentials.seal(b"x", "pw")
    assert blob == twin.seal(b"x", "pw")
    assert credentials.open_seal(blob, "pw") == b"x"
    assert credentials.verify_password(credentials.hash_password("pw"), "pw")
    assert not credentials.verify_password(None, "pw")


def test_a_given_dummy_hash_is_the_one_checked_and_a_made_one_is_made_once() -> None:
    given = Credentials(Seeded(2), CHEAP).hash_password("dummy")
    entropy = Seeded(2)
    creds = Credentials(entropy, CHEAP, dummy_hash=given)
    assert not creds.verify_password(None, "dummy")
    assert creds.dummy_hash() == given and entropy.asked == []
    # Without one: a random 16-byte password's hash, drawn on first use only.
    entropy = Seeded(2)
    creds = Credentials(entropy, CHEAP)
    first = creds.dummy_hash()
    assert not creds.verify_password(None, "pw")
    assert creds.dummy_hash() == first and entropy.asked == [16]


def test_a_hash_salt_is_the_next_16_bytes_of_the_salt_stream() -> None:
    stored = Credentials(Seeded(3), CHEAP, salts=Seeded(9)).hash_password("pw")
    salt_b64 = stored.split("$")[4]
    salt = base64.b64decode(salt_b64 + "=" * (-len(salt_b64) % 4))
    assert salt == Seeded(9).token_bytes(16)


def test_a_seal_has_the_layout_its_docstring_gives() -> None:
    """salt(16) tag(32) body, keys the two halves of a 64-byte argon2id of the password:
    a seal kept in the database by one build opens in another."""
    creds = Credentials(Seeded(7), CHEAP)
    blob = creds.seal(b"a token", "pw")
    salt, tag, body = blob[:16], blob[16:48], blob[48:]
    assert salt == Seeded(7).token_bytes(16)
    raw = hash_secret_raw(b"pw", salt, time_cost=1, memory_cost=64, parallelism=1,
                          hash_len=64, type=Type.ID)
    enc_key, mac_key = raw[:32], raw[32:]
    pad = hashlib.shake_256(enc_key).digest(len(b"a token"))
    assert body == bytes(a ^ b for a, b in zip(b"a token", pad, strict=True))
    assert tag == hmac.new(mac_key, salt + body, hashlib.sha256).digest()
