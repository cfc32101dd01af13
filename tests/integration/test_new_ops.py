"""The new ops end to end over tcp (change_password, history, health, paged products),
from the blocking and the asyncio client, and across a restart on the same folder."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from actors.config import Endpoints
from actors.system import VendingSystem
from tools.serverproc import free_tcp_endpoint
from transport.aio import AsyncClient
from transport.client import Client
from vending.errors import InvalidCredentials, Unauthorized

PASSWORD = "correct horse battery"
NEW = "a brand new password"


def tcp_client(system: VendingSystem, session: Client | None = None) -> Client:
    c = Client(system.endpoints[0], timeout=10.0)
    if session is not None:
        c.wsess_uid, c.token = session.wsess_uid, session.token
    return c


def test_history_and_change_password_survive_a_restart_over_tcp(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    with VendingSystem(data_dir=data, binds=("tcp://127.0.0.1:0",)) as first, \
            tcp_client(first) as sam, tcp_client(first) as ann, tcp_client(first) as ann2:
        sam.register("sam", PASSWORD, "seller")
        cola = sam.sell("Coca-Cola", 35, 5)
        ann.register("ann", PASSWORD)
        ann.deposit(50)
        bought = ann.buy(cola["product_uid"], 1)
        ann2.login("ann", PASSWORD)
        assert ann.change_password(PASSWORD, NEW, req_id="cp-1") == 1
        with pytest.raises(Unauthorized):
            ann2.profile()
        before = ann.history()
        sales = sam.history()
        saved = (ann.wsess_uid, ann.token, sam.wsess_uid, sam.token)
    assert [e["kind"] for e in before["entries"]] == ["purchase", "deposit"]
    assert before["entries"][0]["change"] == bought["change"]
    assert [(e["kind"], e["spent"]) for e in sales["entries"]] == [("sale", 35)]

    with VendingSystem(data_dir=data, binds=("tcp://127.0.0.1:0",)) as second, \
            tcp_client(second) as ann, tcp_client(second) as sam, tcp_client(second) as new:
        ann.wsess_uid, ann.token, sam.wsess_uid, sam.token = saved
        assert ann.history() == before  # the caller's session stayed, history kept
        assert sam.history() == sales
        # The password change survived: old refused, new accepted.
        with pytest.raises(InvalidCredentials):
            new.login("ann", PASSWORD)
        assert new.login("ann", NEW)["user_uid"] == "buyer_ann"
        # Its req_id is still kept: the retry replays, ending nothing more.
        assert ann.change_password(PASSWORD, NEW, req_id="cp-1") == 1
        assert new.profile()["ok"]
        # History goes on with rising ids.
        ann.deposit(5)
        after = ann.history(limit=1)
        assert after["more"] is True
        assert after["entries"][0]["kind"] == "deposit"
        assert after["entries"][0]["id"] > before["entries"][0]["id"]


def test_products_paging_and_health_over_tcp(system: VendingSystem, account: Any,
                                             wait_until: Any) -> None:
    sam = account("sam", "seller")
    made = [sam.sell(name, 5, 1)["product_uid"] for name in ("Cola", "Tea", "cola zero")]
    with tcp_client(system) as c:
        page = c.find_products("COLA", limit=1)
        assert [p["product_uid"] for p in page["products"]] == [made[0]] and page["more"]
        page = c.find_products("COLA", limit=1, after=made[0])
        assert [p["product_uid"] for p in page["products"]] == [made[2]] and not page["more"]
        assert [p["product_uid"] for p in c.products()] == made
        # What the parts tell comes with their heartbeats: wait for one after the writes.
        health = wait_until(lambda: (lambda r: r if r["sessions"] >= 1
                                     and r["last_seq"]["stock-handler"] >= 3 else None)(
                                         c.health()), what="health to see the writes")
    assert health["status"] == "ok"
    assert set(health["parts"]) == {"front-door", "gatekeeper", "stock-handler"}
    assert all(p["up"] and p["storage"] == "ok" for p in health["parts"].values())
    assert health["sessions"] >= 1 and health["in_flight"] == 0
    assert health["last_seq"]["stock-handler"] >= 3 and health["last_seq"]["gatekeeper"] >= 1


def test_health_tells_when_a_part_is_down(make_system: Any, wait_until: Any) -> None:
    """Only a front door (split layout), its gatekeeper and stock handler never started."""
    fifos = Endpoints(*(free_tcp_endpoint() for _ in range(4)))
    door = make_system(role="frontdoor", endpoints=fifos)
    with tcp_client(door) as c:
        def degraded() -> dict[str, Any] | None:
            reply = c.health()
            return reply if reply["status"] == "degraded" else None
        reply = wait_until(degraded, what="health to turn degraded")
    assert reply["parts"]["front-door"]["up"] is True
    assert reply["parts"]["gatekeeper"]["up"] is False
    assert reply["parts"]["stock-handler"]["up"] is False
    assert reply["parts"]["gatekeeper"]["last_heard_ms"] > 3000


def test_the_asyncio_client_has_the_new_ops(system: VendingSystem, tcp_endpoint: str,
                                             account: Any) -> None:
    sam = account("sam", "seller")
    cola = sam.sell("Cola", 5, 3)["product_uid"]

    async def story() -> None:
        async with AsyncClient(tcp_endpoint, timeout=10.0) as ann, \
                AsyncClient(tcp_endpoint, timeout=10.0) as other:
            await ann.register("ann", PASSWORD)
            await other.login("ann", PASSWORD)
            await ann.deposit(10)
            await ann.buy(cola, 1)
            page = await ann.history(limit=1)
            assert page["more"] and page["entries"][0]["kind"] == "purchase"
            assert await ann.change_password(PASSWORD, NEW) == 1
            with pytest.raises(Unauthorized):
                await other.profile()
            found = await ann.find_products("co", limit=5)
            assert [p["product_uid"] for p in found["products"]] == [cola]
            assert (await ann.health())["status"] == "ok"

    asyncio.run(asyncio.wait_for(story(), timeout=60))
