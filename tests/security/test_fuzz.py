"""Hostile frames against a live front door: it answers or drops them, and stays sound."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import msgpack
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors.system import VendingSystem
from tools.fuzz import fuzz
from transport.client import Client

FRAMES = int(os.environ.get("VENDING_FUZZ_FRAMES", "3000"))

_scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**64 - 1), st.floats(),
                     st.text(max_size=70), st.binary(max_size=70))
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4)
                       | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=8)
_requests = st.dictionaries(
    st.sampled_from(["op", "req_id", "wsess_uid", "token", "username", "password", "amount",
                     "cost", "product_uid", "product_name", "seller_uid"]) | st.text(max_size=8),
    _values | st.sampled_from(["auth", "deposit", "buy", "sell", "reset", "delete_user"]),
    max_size=7)


def _snapshot(seller: Client, buyer: Client) -> tuple[Any, ...]:
    return seller.products(), buyer.profile()["deposit"], seller.profile()["user_uid"]


def test_random_frames_never_change_state_or_stop_the_door(
        system: VendingSystem, tcp_endpoint: str, account: Callable[..., Client]) -> None:
    seller = account("sam", "seller")
    seller.sell("cola", 35, 10)
    buyer = account("ann", "buyer", deposit=150)
    before = _snapshot(seller, buyer)

    report = fuzz(tcp_endpoint, FRAMES, seed=1)

    assert report.malformed_replies == 0
    assert report.answered >= FRAMES * 0.95, report.line()   # only >1 MiB frames may be dropped
    assert report.errors.get("INTERNAL", 0) == 0, report.line()
    assert _snapshot(seller, buyer) == before
    assert buyer.ping()


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=_requests)
def test_any_map_gets_a_proper_reply(body: dict[str, Any], raw_socket: Callable[..., Any]) -> None:
    sock = raw_socket(zmq.REQ)
    try:
        frame = msgpack.packb(body, use_bin_type=True)
    except (ValueError, OverflowError, TypeError):
        return  # not encodable as msgpack at all: nothing to send
    sock.send(frame)
    assert sock.poll(10_000), "no reply"
    reply = msgpack.unpackb(sock.recv(), raw=False)
    assert isinstance(reply, dict)
    assert reply.get("ok") in (True, False)
    if reply["ok"] is False:
        assert reply["error"] != "INTERNAL"
        assert isinstance(reply["message"], str) and "Traceback" not in reply["message"]
    assert "password" not in reply and "pw_hash" not in reply
