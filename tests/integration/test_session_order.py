"""Requests of one session are handled in the order they were sent (docs/protocol.md §5)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgpack
import zmq


def test_pipelined_deposits_come_back_in_send_order(account: Any, creds: Any,
                                                    raw_socket: Callable[..., Any],
                                                    recv: Any) -> None:
    ann = account("ann")
    dealer = raw_socket(zmq.DEALER)
    for n in range(25):
        dealer.send_multipart([b"", msgpack.packb({"op": "deposit", **creds(ann), "amount": 5,
                                                   "req_id": f"dep-{n:02d}"})])
    replies = [recv(dealer) for _ in range(25)]
    assert [r["req_id"] for r in replies] == [f"dep-{n:02d}" for n in range(25)]
    assert [r["deposit"] for r in replies] == [5 * (n + 1) for n in range(25)]
    assert ann.profile()["deposit"] == 125


def test_pipelined_mixed_ops_see_each_others_effects(account: Any, creds: Any,
                                                     raw_socket: Callable[..., Any],
                                                     recv: Any) -> None:
    """Ops travelling down different fifos still run one after the other."""
    sam = account("sam", "seller")
    uid = sam.sell("cola", 35, 3)["product_uid"]
    ann = account("ann")
    session = creds(ann)
    script: list[dict[str, Any]] = [
        {"op": "deposit", "amount": 100},
        {"op": "profile"},
        {"op": "buy", "product_uid": uid, "amount": 2},
        {"op": "profile"},
        {"op": "deposit", "amount": 20},
        {"op": "buy", "product_uid": uid, "amount": 1},
        {"op": "deposit", "amount": 50},
        {"op": "reset"},
        {"op": "profile"},
        {"op": "logout"},
        {"op": "profile"},
    ]
    dealer = raw_socket(zmq.DEALER)
    for n, step in enumerate(script):
        dealer.send_multipart([b"", msgpack.packb({**step, **session, "req_id": f"s{n}"})])
    replies = [recv(dealer) for _ in script]
    assert [r["req_id"] for r in replies] == [f"s{n}" for n in range(len(script))]
    assert replies[0]["deposit"] == 100
    assert replies[1]["deposit"] == 100
    assert (replies[2]["spent"], replies[2]["change"]) == (70, [20, 10])
    assert replies[3]["deposit"] == 0
    assert replies[4]["deposit"] == 20
    assert replies[5]["error"] == "INSUFFICIENT_DEPOSIT"
    assert replies[6]["deposit"] == 70
    assert replies[7]["change"] == [50, 20]
    assert replies[8]["deposit"] == 0
    assert replies[9]["ended"] == 1
    assert replies[10]["error"] == "UNAUTHORIZED"
    assert sam.product(uid)["amount"] == 1


def test_two_sessions_pipelining_do_not_mix(account: Any, creds: Any,
                                            raw_socket: Callable[..., Any], recv: Any) -> None:
    ann, bob = account("ann"), account("bob")
    dealer = raw_socket(zmq.DEALER)
    for n in range(10):
        for who, coin in ((ann, 5), (bob, 10)):
            dealer.send_multipart([b"", msgpack.packb(
                {"op": "deposit", **creds(who), "amount": coin,
                 "req_id": f"{who.user_uid}-{n}"})])
    replies = [recv(dealer) for _ in range(20)]
    for who, coin in ((ann, 5), (bob, 10)):
        mine = [r for r in replies if r["req_id"].startswith(str(who.user_uid))]
        assert [r["req_id"] for r in mine] == [f"{who.user_uid}-{n}" for n in range(10)]
        assert [r["deposit"] for r in mine] == [coin * (n + 1) for n in range(10)]
