"""A login kept under its req_id is stored without its token (vending/login.py): the
database holds no usable token, and only the password opens the sealed one."""

from __future__ import annotations

from rules_world import World


def test_the_kept_reply_has_no_token(world: World) -> None:
    world.register("buyer", "ann")
    reply = world.auth("buyer", "ann", req_id="L1")
    assert reply["ok"]
    rows = world.acc.db.conn.execute("SELECT reply, sealed FROM idem").fetchall()
    assert len(rows) == 1
    text, sealed = rows[0]
    assert reply["token"] not in text and '"token"' not in text
    assert reply["token"].encode() not in sealed
    # the replay still gives the token back, from the seal
    assert world.auth("buyer", "ann", req_id="L1")["token"] == reply["token"]
