"""`vending abuse` (tools/abuse.py): loopback only, a real ZMTP peer, and a short run
against a live system whose normal user must see every deposit and login succeed."""

from __future__ import annotations

from typing import Any

import pytest
import zmq

from cli.main import main
from tools.abuse import NotLoopback, loopback_hostport, run_abuse, zmtp_long_subscription


@pytest.mark.parametrize("endpoint", ["tcp://10.0.0.1:5555", "tcp://example.com:5555",
                                      "ipc:///tmp/x", "tcp://127.0.0.1"])
def test_only_loopback_endpoints_are_flooded(endpoint: str) -> None:
    with pytest.raises(NotLoopback):
        loopback_hostport(endpoint)


def test_the_command_refuses_a_remote_endpoint(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["abuse", "--endpoint", "tcp://192.0.2.1:5555", "--seconds", "1"]) == 2
    assert "only loopback" in capsys.readouterr().err


def test_the_raw_zmtp_peer_subscribes_like_a_sub_socket(zctx: zmq.Context[Any]) -> None:
    xpub = zctx.socket(zmq.XPUB)
    xpub.setsockopt(zmq.LINGER, 0)
    port = xpub.bind_to_random_port("tcp://127.0.0.1")
    try:
        zmtp_long_subscription("127.0.0.1", port, "127.0.0.2", 100)
        assert xpub.poll(5000), "no subscription arrived"
        assert xpub.recv() == b"\x01" + b"t" * 100
    finally:
        xpub.close(0)


def test_a_short_run_the_normal_user_is_served(tcp_endpoint: str) -> None:
    report = run_abuse(tcp_endpoint, seconds=1.5, floods=("reads", "registrations"),
                       read_sockets=2, register_sockets=2, window=20)
    assert report.server_up
    assert report.deposits > 0 and len(report.deposit_ms) == report.deposits
    assert report.logins > 0 and len(report.login_ms) == report.logins
    reads, registrations = report.flood_stats
    assert set(reads.codes) <= {"ok", "RATE_LIMITED"} and reads.sent > 0
    assert set(registrations.codes) <= {"DUPLICATE_USERNAME", "RATE_LIMITED"}
    assert registrations.codes["DUPLICATE_USERNAME"] <= 30
    assert any("normal user (127.0.0.3)" in line for line in report.lines())
