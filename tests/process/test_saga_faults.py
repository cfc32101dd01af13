"""Kill a real `vending serve` between each pair of purchase-saga steps; check recovery.

The fault points (actors/faults.py) fire right after a step's commit and before
its message leaves, i.e. exactly "between two steps" of docs/purchase-saga.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tools.serverproc import ServerProcess
from transport.client import Client
from vending.errors import Unavailable

POINTS = [
    "stock-handler.before_send.charge",   # units reserved, buyer not yet charged
    "gatekeeper.before_send.charged",     # buyer charged, reservation not yet settled
    "stock-handler.before_send.status",   # settled, reply not yet sent
]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def _server(data_dir: Path, fault: str | None = None) -> ServerProcess:
    return ServerProcess(data_dir, env={"VENDING_FAULTS": f"{fault}=kill" if fault else ""},
                         extra=["--request-timeout", "3"])


@pytest.fixture
def stocked(data_dir: Path) -> Iterator[tuple[str, str, dict[str, str]]]:
    """A seller's product (10 units at 35) and a buyer holding 100 cents."""
    server = _server(data_dir).start()
    try:
        with Client(server.endpoint, timeout=5) as c:
            c.register("sam", "password1", role="seller")
            uid = c.sell("cola", 35, 10)["product_uid"]
        with Client(server.endpoint, timeout=5) as b:
            b.register("ann", "password1")
            b.deposit(100)
            creds = {"wsess_uid": b.wsess_uid or "", "token": b.token or ""}
    finally:
        assert server.terminate() == 0
    yield server.endpoint, uid, creds


@pytest.mark.parametrize("point", POINTS)
def test_a_crash_between_saga_steps_is_repaired(point: str, data_dir: Path,
                                                stocked: tuple[str, str, dict[str, str]]) -> None:
    _, uid, creds = stocked
    buy = {"op": "buy", "product_uid": uid, "amount": 2, "req_id": "buy-1", **creds}

    crashing = _server(data_dir, point).start()
    with Client(crashing.endpoint, timeout=2, retries=0) as b, pytest.raises(Unavailable):
        b.request(buy)  # the server SIGKILLs itself mid-saga: no reply
    assert crashing.wait() == -9

    server = _server(data_dir).start()
    try:
        with Client(server.endpoint, timeout=5) as b:
            first = b.request(buy)          # the retry, same req_id
            again = b.request(buy)
            b.wsess_uid, b.token = creds["wsess_uid"], creds["token"]
            assert first["ok"] is True, first
            assert first["spent"] == 70 and first["change"] == [20, 10] and first["deposit"] == 0
            assert {k: v for k, v in again.items()} == first   # replayed, not re-applied
            assert b.profile()["deposit"] == 0
            # The reservation the crash stranded was settled: exactly 2 units left the shelf.
            assert b.product(uid)["amount"] == 8
    finally:
        assert server.terminate() == 0


def test_a_crash_after_reserving_releases_the_units(data_dir: Path,
                                                    stocked: tuple[str, str, dict[str, str]]
                                                    ) -> None:
    """Not retried: the held units come back and the buyer keeps the deposit."""
    _, uid, creds = stocked
    crashing = _server(data_dir, POINTS[0]).start()
    with Client(crashing.endpoint, timeout=2, retries=0) as b, pytest.raises(Unavailable):
        b.request({"op": "buy", "product_uid": uid, "amount": 3, **creds})
    crashing.wait()

    server = _server(data_dir).start()
    try:
        with Client(server.endpoint, timeout=5) as b:
            b.wsess_uid, b.token = creds["wsess_uid"], creds["token"]
            assert b.profile()["deposit"] == 100
            assert b.product(uid)["amount"] == 10  # recovery ran before "ready"
    finally:
        assert server.terminate() == 0

