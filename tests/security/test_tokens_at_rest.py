"""A copied database file yields no live session: tokens are stored only as hashes,
and an idempotent auth reply keeps its token sealed under the password."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from actors.system import VendingSystem


def test_no_token_or_password_is_stored_in_the_clear(
        tmp_path: Path, make_system: Callable[..., VendingSystem]) -> None:
    system = make_system(data_dir=str(tmp_path))
    client = system.client()
    reply = client.register("ann", "correct horse battery", req_id="reg-1")
    again = client.request({"op": "auth", "token": "new_buyer", "username": "ann",
                            "password": "correct horse battery", "req_id": "reg-1"})
    assert again["token"] == reply["token"]  # the replay has it, from the seal
    login = system.client()
    login.login("ann", "correct horse battery")
    system.stop()

    files = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    for secret in (reply["token"], login.token, "correct horse battery"):
        assert secret is not None
        assert secret.encode() not in files


def test_a_session_row_is_not_a_credential(tmp_path: Path,
                                           make_system: Callable[..., VendingSystem]) -> None:
    import sqlite3

    system = make_system(data_dir=str(tmp_path))
    client = system.client()
    client.register("ann", "correct horse battery")
    with sqlite3.connect(tmp_path / "gatekeeper.sqlite3") as conn:
        wsess_uid, token_hash = conn.execute(
            "SELECT wsess_uid, token_hash FROM sessions").fetchone()
    thief = system.client()
    thief.wsess_uid, thief.token = wsess_uid, token_hash.hex()
    reply = thief.request({"op": "profile", "wsess_uid": wsess_uid, "token": token_hash.hex()})
    assert reply["error"] == "UNAUTHORIZED"
    assert token_hash != client.token and token_hash.hex() != client.token
    assert client.profile()["user_uid"] == "buyer_ann"  # the real token still works
