"""Many requests answered by one backend batch: every status reaches its client.

A backend sends a batch's messages to one fifo as one frame (transport/fifo.py
`Pushers.send_many`), the front door's status fifo included; a front door that
read only single messages would leave these clients without a reply.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgpack
import zmq

CLIENTS, ROUNDS = 16, 8
# A lost status is not retried here: it shows as no reply within this.
REPLY_WAIT = 5.0


def test_a_burst_of_deposits_is_answered_every_one(
        account: Callable[..., Any], raw_socket: Callable[..., zmq.Socket[Any]],
        recv: Callable[..., dict[str, Any]]) -> None:
    buyers = [account(f"burst{i}") for i in range(CLIENTS)]
    socks = [raw_socket(zmq.REQ) for _ in buyers]
    for round_ in range(1, ROUNDS + 1):
        # All sent before any is read: the gatekeeper drains them in batches.
        for n, (sock, buyer) in enumerate(zip(socks, buyers, strict=True)):
            sock.send(msgpack.packb({"op": "deposit", "amount": 5, "wsess_uid": buyer.wsess_uid,
                                     "token": buyer.token, "req_id": f"r{round_}-{n}"}))
        replies: list[dict[str, Any]] = [recv(sock, timeout=REPLY_WAIT) for sock in socks]
        assert [r.get("deposit") for r in replies] == [5 * round_] * CLIENTS, replies
