"""The same code as separate processes: conformance across two front doors, a role
going away and coming back."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tools.split import SplitDeployment
from transport.client import Client
from vending.errors import InsufficientDeposit, SellersOnly, Unavailable

PASSWORD = "correct horse battery"


@pytest.fixture
def split(tmp_path: Path) -> Iterator[SplitDeployment]:
    deployment = SplitDeployment(tmp_path, front_doors=2)
    try:
        yield deployment.start()
    finally:
        deployment.kill_all()


def _until(check: object, timeout: float = 15.0) -> object:
    """Poll (with a deadline) for what a restarted role makes true again."""
    assert callable(check)
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        try:
            result = check()
            if result:
                return result
        except Unavailable:
            pass
        if time.monotonic() > deadline:
            pytest.fail("the deployment did not recover in time")
        pause.wait(0.1)


def test_a_session_continues_through_another_front_door(split: SplitDeployment) -> None:
    door_a, door_b = split.endpoints
    with Client(door_a, timeout=10) as seller, Client(door_a, timeout=10) as buyer:
        seller.register("sam", PASSWORD, "seller")
        cola = seller.sell("cola", 35, 3)
        buyer.register("ann", PASSWORD)
        buyer.deposit(20)
        with pytest.raises(SellersOnly):
            buyer.sell("tea", 10, 1)
        with Client(door_b, timeout=10) as same_buyer:
            same_buyer.wsess_uid, same_buyer.token = buyer.wsess_uid, buyer.token
            assert same_buyer.deposit(20) == 40
            with pytest.raises(InsufficientDeposit):
                same_buyer.buy(cola["product_uid"], 2)
            bought = same_buyer.buy(cola["product_uid"], 1)
            assert bought["spent"] == 35 and bought["change"] == [5]
            assert same_buyer.products()[0]["amount"] == 2
            assert same_buyer.profile()["deposit"] == 0
        assert buyer.logout() == 1


def test_without_the_gatekeeper_reads_still_work_and_it_comes_back(
        split: SplitDeployment) -> None:
    with Client(split.endpoint, timeout=10) as buyer:
        buyer.register("ann", PASSWORD)
        buyer.deposit(50)
        split.procs["gatekeeper"].kill()
        # The front door notices (heartbeats) and refuses fast what needs the gatekeeper.
        _until(lambda: buyer.request({"op": "profile", "wsess_uid": buyer.wsess_uid,
                                      "token": buyer.token})["error"] == "UNAVAILABLE")
        assert buyer.products() == []  # needs only the stock handler
        split.procs["gatekeeper"].start()
        assert _until(lambda: buyer.profile()["deposit"] == 50)


def test_without_the_stock_handler_accounts_still_work(split: SplitDeployment) -> None:
    with Client(split.endpoint, timeout=10, retries=0) as buyer:
        buyer.register("ann", PASSWORD)
        split.procs["stock-handler"].kill()
        _until(lambda: buyer.request({"op": "products"})["error"] == "UNAVAILABLE")
        assert buyer.deposit(10) == 10
        split.procs["stock-handler"].start()
        assert _until(lambda: buyer.products() == [])


@pytest.mark.slow
def test_killing_each_role_in_turn_under_load_loses_nothing(tmp_path: Path) -> None:
    """SIGKILL the gatekeeper, the stock handler and each front door in turn while
    buyers and sellers run; restart it; re-send what was lost (same req_id)."""
    from tools.chaos import run_chaos

    # Each kill comes after 1-40 more acknowledged ops, not after a guessed time.
    summary = run_chaos(4, data_dir=tmp_path, split=True, load_ops=40, seed=3)
    assert summary.cycles == 4
    assert summary.acknowledged > 0 and summary.retried > 0
    assert summary.lost == 0
    assert summary.violations == []
