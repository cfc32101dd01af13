"""The front door on a real tcp loopback socket, fed by hand-made frames."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgpack
import pytest
import zmq

import vending

PASSWORD = "correct horse battery"
PING = msgpack.packb({"op": "ping"})


def bad_request(reply: dict[str, Any]) -> str:
    assert reply["ok"] is False, reply
    assert reply["error"] == "BAD_REQUEST", reply
    assert isinstance(reply["message"], str) and reply["message"]
    return str(reply["message"])


@pytest.mark.parametrize("body", [
    b"",
    b"\xc1 not msgpack at all",
    b"\x93\x01\x02",  # truncated array
    msgpack.packb([1, 2, 3]),
    msgpack.packb("ping"),
    msgpack.packb(42),
    msgpack.packb(None),
    msgpack.packb({1: "ping"}),
    msgpack.packb({b"op": b"ping"}, use_bin_type=True),  # bin keys are not strings
    msgpack.packb({"op": b"ping"}, use_bin_type=True),   # bin op is not a string
    msgpack.packb({"op": "ping", "x": msgpack.ExtType(5, b"e")}),
], ids=["empty", "garbage", "truncated", "array", "string", "int", "nil", "int-keys",
        "bin-keys", "bin-op", "ext-type"])
def test_undecodable_or_non_map_frames_are_bad_request(raw_socket: Callable[..., Any],
                                                       exchange: Any, body: bytes) -> None:
    bad_request(exchange(raw_socket(), body))


def test_unknown_op_is_bad_request_naming_op(raw_socket: Callable[..., Any],
                                             exchange: Any) -> None:
    assert "op" in bad_request(exchange(raw_socket(), {"op": "open_the_vault"}))


def test_frame_over_64_kib_is_bad_request(raw_socket: Callable[..., Any],
                                          exchange: Any) -> None:
    sock = raw_socket()
    big = msgpack.packb({"op": "ping", "pad": "x" * (64 * 1024)})
    assert 64 * 1024 < len(big) < 1024 * 1024
    bad_request(exchange(sock, big))
    # The same connection still works.
    assert exchange(sock, PING)["ok"] is True


def test_frame_of_exactly_64_kib_is_accepted(raw_socket: Callable[..., Any],
                                             exchange: Any) -> None:
    # Strings of 256..65535 bytes share one header size, so this lands exactly.
    pad = 64 * 1024 - len(msgpack.packb({"op": "ping", "pad": "x" * 300})) + 300
    frame = msgpack.packb({"op": "ping", "pad": "x" * pad})
    assert len(frame) == 64 * 1024
    assert exchange(raw_socket(), frame)["ok"] is True


def test_dealer_with_empty_delimiter_gets_replies(raw_socket: Callable[..., Any],
                                                  recv: Any) -> None:
    dealer = raw_socket(zmq.DEALER)
    dealer.send_multipart([b"", msgpack.packb({"op": "ping", "req_id": "d-1"})])
    assert recv(dealer) == {"ok": True, "version": vending.__version__, "req_id": "d-1"}
    dealer.send_multipart([b"", b"\xc1"])
    bad_request(recv(dealer))


def test_multi_frame_request_is_bad_request(raw_socket: Callable[..., Any], recv: Any) -> None:
    dealer = raw_socket(zmq.DEALER)
    dealer.send_multipart([b"", PING, PING])
    assert "frame" in bad_request(recv(dealer))
    req = raw_socket(zmq.REQ)
    req.send_multipart([PING, PING])
    bad_request(recv(req))


def test_dealer_without_delimiter_is_ignored_and_harmless(system: Any,
                                                          raw_socket: Callable[..., Any],
                                                          exchange: Any,
                                                          wait_until: Any) -> None:
    dealer = raw_socket(zmq.DEALER)
    dealer.send(PING)  # no empty delimiter: nothing we could address a reply to
    wait_until(lambda: system.door.stats.malformed_frames >= 1, what="the frame to be seen")
    assert exchange(raw_socket(), PING)["ok"] is True
    assert not dealer.poll(0, zmq.POLLIN)


def test_door_still_serves_after_a_burst_of_garbage(raw_socket: Callable[..., Any],
                                                    exchange: Any, recv: Any) -> None:
    junk = [b"\xc1" * n for n in range(1, 40)] + [msgpack.packb([n]) for n in range(40)]
    dealers = [raw_socket(zmq.DEALER) for _ in range(5)]
    for dealer in dealers:
        for body in junk:
            dealer.send_multipart([b"", body])
        dealer.send(b"no delimiter")
        dealer.send_multipart([b"", body, body])
    for dealer in dealers:
        for _ in range(len(junk) + 1):
            bad_request(recv(dealer))
    assert exchange(raw_socket(), PING)["ok"] is True


def test_frame_over_one_mib_does_not_stop_the_door(raw_socket: Callable[..., Any],
                                                   exchange: Any) -> None:
    huge = raw_socket(zmq.DEALER)
    huge.send_multipart([b"", b"\x00" * (2 * 1024 * 1024)])
    # That sender may be dropped without a reply; everyone else is served.
    assert exchange(raw_socket(), PING)["ok"] is True


def test_vanished_clients_do_not_disturb_others(system: Any, raw_socket: Callable[..., Any],
                                                exchange: Any, account: Any,
                                                zctx: zmq.Context[Any],
                                                tcp_endpoint: str, wait_until: Any) -> None:
    ann = account("ann", deposit=100)
    before = system.door.stats.received
    # Clients that send a slow request (argon2) or a session op, then go away at once.
    for n in range(20):
        gone = zctx.socket(zmq.REQ)
        gone.setsockopt(zmq.LINGER, 2000)  # the request still leaves; the socket is gone
        gone.connect(tcp_endpoint)
        if n % 2:
            gone.send(msgpack.packb({"op": "auth", "token": "new_buyer",
                                     "username": f"ghost{n}", "password": PASSWORD}))
        else:
            gone.send(msgpack.packb({"op": "profile", "wsess_uid": ann.wsess_uid,
                                     "token": ann.token}))
        gone.close()
    # A client that never reads its replies.
    deaf = raw_socket(zmq.DEALER)
    for _ in range(200):
        deaf.send_multipart([b"", PING])
    wait_until(lambda: system.door.stats.received >= before + 220,
               what="every frame to reach the door")
    sock = raw_socket()
    assert exchange(sock, PING)["ok"] is True
    reply = exchange(sock, {"op": "deposit", "wsess_uid": ann.wsess_uid, "token": ann.token,
                            "amount": 5, "req_id": "after-ghosts"})
    assert reply == {"ok": True, "deposit": 105, "req_id": "after-ghosts"}
    assert ann.profile()["deposit"] == 105
    # The ghosts' registrations were done although nobody was there for the reply.
    wait_until(lambda: ann.request({"op": "auth", "token": "buyer", "username": "ghost19",
                                    "password": PASSWORD}).get("ok"),
               interval=0.3, what="a ghost's registration to be usable")
    assert exchange(sock, PING)["ok"] is True


def test_replies_never_carry_a_traceback_or_a_password(system: Any,
                                                      raw_socket: Callable[..., Any],
                                                      recv: Any) -> None:
    secret = "s3cret-Passw0rd-Zq"
    sock = raw_socket(zmq.DEALER)
    seller = {"op": "auth", "token": "new_seller", "username": "sam", "password": secret,
              "req_id": "reg-sam"}
    messages: list[Any] = [
        {"op": "auth", "token": "new_buyer", "username": "ann", "password": secret,
         "req_id": "reg-ann"},
        {"op": "auth", "token": "new_buyer", "username": "ann", "password": secret},
        {"op": "auth", "token": "buyer", "username": "ann", "password": secret},
        {"op": "auth", "token": "buyer", "username": "ann", "password": secret + "x"},
        {"op": "auth", "token": "buyer", "username": "bad name", "password": secret},
        {"op": "auth", "token": "root", "username": "ann", "password": secret},
        {"op": "auth", "token": "new_buyer", "username": "ann", "password": secret * 20},
        {"op": "auth", "token": "new_buyer", "username": "ann", "password": secret,
         "req_id": "reg-ann", "extra": 1},
        seller, seller,
        {"op": "delete_user", "wsess_uid": "s_x", "token": "t", "password": secret},
        {"op": "delete_user", "wsess_uid": "s_x", "token": "t", "password": [secret]},
        {"op": "auth", "token": "buyer", "username": "ann", "password": {"pw": secret}},
    ]
    bodies = [msgpack.packb(m) for m in messages] + [b"\xc1" + secret.encode()]
    raw: list[bytes] = []
    for body in bodies:
        sock.send_multipart([b"", body])
    for _ in bodies:
        assert sock.poll(10_000, zmq.POLLIN), "no reply"
        frames = sock.recv_multipart()
        raw.append(frames[-1])
    for frame in raw:
        assert secret.encode() not in frame
        assert b"Traceback" not in frame
        assert b"$argon2" not in frame
        assert isinstance(msgpack.unpackb(frame), dict)
