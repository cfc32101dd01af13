"""The `vending` command never prints a raw control character that came off the wire.

The server refuses such product names now, but a client cannot trust its server
(an older one, a forged one): these tests answer the CLI from a hostile REP socket.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq

from cli.client_commands import printable
from cli.main import main
from transport.codec import encode
from vending.limits import unsafe_char

HOSTILE = "\x1b[2J\x1b[31mred\x07\x00\u202eevil\u2066\x9b\n"


@pytest.fixture
def hostile_server() -> Iterator[Callable[[dict[str, Any]], str]]:
    """`hostile_server(reply)` -> an endpoint whose one REP socket answers `reply` once."""
    threads: list[threading.Thread] = []
    stop = threading.Event()
    ctx: zmq.Context[Any] = zmq.Context()

    def start(reply: dict[str, Any]) -> str:
        bound: list[str] = []
        ready = threading.Event()

        def serve() -> None:
            sock = ctx.socket(zmq.REP)  # created, used and closed in this thread
            sock.setsockopt(zmq.LINGER, 0)
            try:
                port = sock.bind_to_random_port("tcp://127.0.0.1")
                bound.append(f"tcp://127.0.0.1:{port}")
                ready.set()
                while not stop.is_set():
                    if sock.poll(50, zmq.POLLIN):
                        sock.recv()
                        sock.send(encode(reply))
                        return
            finally:
                sock.close(0)

        thread = threading.Thread(target=serve, name="hostile-server")
        thread.start()
        threads.append(thread)
        assert ready.wait(10), "the hostile server did not bind"
        return bound[0]

    yield start
    stop.set()
    for thread in threads:
        thread.join(10)
    ctx.term()


def _run(capsys: pytest.CaptureFixture[str], tmp_path: Path, endpoint: str,
         *args: str) -> tuple[int, str, str]:
    code = main([*args, "--endpoint", endpoint, "--timeout", "5",
                 "--session-file", str(tmp_path / "session.json")])
    out, err = capsys.readouterr()
    return code, out, err


def _raw(text: str) -> list[str]:
    return [ch for ch in text if unsafe_char(ch) and ch != "\n"]


PRODUCT = {"product_uid": "p1" + HOSTILE, "seller_uid": "seller_sam" + HOSTILE,
           "product_name": HOSTILE, "cost": 35, "amount": 1}


@pytest.mark.parametrize(("args", "reply"), [
    (("products",), {"ok": True, "products": [PRODUCT]}),
    (("product", "p1"), {"ok": True, "product": PRODUCT}),
    (("ping",), {"ok": True, "version": HOSTILE}),
])
def test_text_output_escapes_what_came_off_the_wire(
        hostile_server: Callable[[dict[str, Any]], str], capsys: pytest.CaptureFixture[str],
        tmp_path: Path, args: tuple[str, ...], reply: dict[str, Any]) -> None:
    code, out, _ = _run(capsys, tmp_path, hostile_server(reply), *args)
    assert code == 0
    assert _raw(out) == [], out
    assert out.count("\n") == 1, "a newline off the wire does not start a line"
    assert "\\x1b[31mred\\x07\\x00\\u202eevil\\u2066\\x9b\\n" in out


def test_error_messages_are_escaped(hostile_server: Callable[[dict[str, Any]], str],
                                    capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    reply = {"ok": False, "error": "NOT_OWNER", "message": HOSTILE}
    code, out, err = _run(capsys, tmp_path, hostile_server(reply), "product", "p1")
    assert code == 1 and out == ""
    assert _raw(err) == [] and err.count("\n") == 1, err


def test_json_output_escapes_them_too(hostile_server: Callable[[dict[str, Any]], str],
                                      capsys: pytest.CaptureFixture[str],
                                      tmp_path: Path) -> None:
    endpoint = hostile_server({"ok": True, "products": [PRODUCT]})
    code, out, _ = _run(capsys, tmp_path, endpoint, "products", "--json")
    assert code == 0
    assert _raw(out) == [] and out.count("\n") == 1, out
    assert json.loads(out)["products"][0]["product_name"] == HOSTILE  # escaped, not altered


def test_printable_leaves_ordinary_text_alone() -> None:
    for text in ("cola", "café crème", "\u0645\u0627\u0621", "\U0001F964 tea"):
        assert printable(text) == text
    assert printable("a\tb\u200fc") == "a\\tb\\u200fc"
