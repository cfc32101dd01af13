"""What `--metrics` shows when things go wrong, in one process with real sockets: a
failing storage and its recovery, an actor restart. Faults are injected at
actors/faults.py's points, as the storage and supervision tests do."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from actors import faults
from actors.system import VendingSystem
from transport.client import Client


def scrape(system: VendingSystem) -> dict[tuple[str, str], float]:
    assert system.metrics_address is not None
    host, port = system.metrics_address
    with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    return {(s.name, ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


@pytest.fixture
def armed() -> Iterator[Callable[[str, str], None]]:
    points: list[str] = []

    def arm(point: str, action: str) -> None:
        faults.ACTIVE[point] = action
        points.append(point)
    try:
        yield arm
    finally:
        for point in points:
            faults.ACTIVE.pop(point, None)


def test_a_failing_storage_shows_and_recovers(make_system: Callable[..., VendingSystem],
                                              account: Callable[..., Client],
                                              armed: Callable[[str, str], None]) -> None:
    system = make_system(metrics="127.0.0.1:0")
    ann = account("ann", on=system, retries=0)
    assert scrape(system)[("vending_storage_ok", "role=gatekeeper")] == 1
    armed("gatekeeper.commit", "full")
    assert ann.request({**_session(ann), "op": "deposit", "amount": 5})["error"] == \
        "UNAVAILABLE"
    m = scrape(system)
    assert m[("vending_storage_ok", "role=gatekeeper")] == 0
    assert m[("vending_storage_faults_total", "role=gatekeeper")] >= 1
    assert m[("vending_storage_ok", "role=stock-handler")] == 1
    assert m[("vending_requests_total", "code=UNAVAILABLE,op=deposit")] == 1
    faults.ACTIVE.pop("gatekeeper.commit")
    assert ann.deposit(5) == 5
    assert scrape(system)[("vending_storage_ok", "role=gatekeeper")] == 1


def test_an_actor_restart_is_counted(make_system: Callable[..., VendingSystem],
                                     armed: Callable[[str, str], None],
                                     wait_until: Any) -> None:
    system = make_system(metrics="127.0.0.1:0")
    client = system.client(retries=0)
    armed("stock-handler.in_batch", "raise-once")
    assert client.request({"op": "products"})["error"] == "UNAVAILABLE"
    wait_until(lambda: scrape(system)[("vending_actor_restarts_total",
                                       "role=stock-handler")] == 1,
               what="the restart in the metrics")
    assert scrape(system)[("vending_actor_restarts_total", "role=gatekeeper")] == 0


def _session(client: Client) -> dict[str, Any]:
    return {"wsess_uid": client.wsess_uid, "token": client.token}
