"""transport.aio.AsyncClient: the same methods, errors and safe retries as Client,
from an event loop; against the embedded system over tcp and inproc, and against a
scripted ROUTER that loses requests on purpose."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgpack
import pytest
import zmq
import zmq.asyncio

from actors.system import VendingSystem
from transport.aio import AsyncClient
from transport.protocol import NoReply
from vending.errors import InsufficientDeposit, SellersOnly, Unauthorized, WrongAmount

PASSWORD = "correct horse battery"
T = TypeVar("T")


def run(story: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(asyncio.wait_for(story(), timeout=30))


@pytest.mark.parametrize("over", ["tcp", "inproc"])
def test_the_buyer_and_seller_story(system: VendingSystem, tcp_endpoint: str,
                                    over: str) -> None:
    def client() -> AsyncClient:
        if over == "tcp":
            return AsyncClient(tcp_endpoint)
        return AsyncClient(system.config.inproc_door, context=system.ctx)

    async def story() -> None:
        async with client() as sam, client() as ann:
            await sam.register("sam", PASSWORD, role="seller")
            cola = await sam.sell("cola", cost=35, amount=10)
            assert (await sam.update_product(cola["product_uid"], amount=5))["amount"] == 15
            await ann.register("ann", PASSWORD)
            assert await ann.deposit(50) == 50
            with pytest.raises(InsufficientDeposit):
                await ann.buy(cola["product_uid"], 2)
            with pytest.raises(WrongAmount):
                await ann.deposit(3)
            with pytest.raises(SellersOnly):
                await ann.sell("tea", cost=5, amount=1)
            bought = await ann.buy(cola["product_uid"])
            assert (bought["spent"], bought["change"], bought["deposit"]) == (35, [10, 5], 0)
            assert (await ann.product(cola["product_uid"]))["amount"] == 14
            assert [p["product_uid"] for p in await ann.products()] == [cola["product_uid"]]
            assert (await ann.profile())["user_uid"] == "buyer_ann"
            assert await ann.logout() == 1
            with pytest.raises(Unauthorized):
                await ann.profile()
            assert await sam.delete_product(cola["product_uid"]) == cola["product_uid"]
            assert await sam.ping()
    run(story)


def test_a_replayed_req_id_applies_once(tcp_endpoint: str) -> None:
    async def story() -> list[int]:
        async with AsyncClient(tcp_endpoint) as ann:
            await ann.register("ann", PASSWORD)
            return [await ann.deposit(20, req_id="d-1"), await ann.deposit(20, req_id="d-1"),
                    (await ann.profile())["deposit"]]
    assert run(story) == [20, 20, 20]


def test_concurrent_calls_on_one_client_take_turns(tcp_endpoint: str) -> None:
    async def story() -> tuple[list[int], int]:
        async with AsyncClient(tcp_endpoint) as ann:
            await ann.register("ann", PASSWORD)
            balances = await asyncio.gather(*(ann.deposit(5) for _ in range(12)))
            return sorted(balances), (await ann.profile())["deposit"]
    balances, final = run(story)
    assert balances == list(range(5, 65, 5))
    assert final == 60


class LossyServer:
    """A ROUTER that swallows the first `lose` requests and answers the rest."""

    def __init__(self, ctx: zmq.asyncio.Context, lose: int) -> None:
        self.sock = ctx.socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        port = self.sock.bind_to_random_port("tcp://127.0.0.1")
        self.endpoint = f"tcp://127.0.0.1:{port}"
        self.lose = lose
        self.seen: list[dict[str, Any]] = []

    async def serve(self) -> None:
        while True:
            *envelope, body = await self.sock.recv_multipart()
            request = msgpack.unpackb(body, raw=False)
            self.seen.append(request)
            if len(self.seen) > self.lose:
                reply = {"ok": True, "deposit": 5, "req_id": request.get("req_id")}
                await self.sock.send_multipart([*envelope, msgpack.packb(reply)])


def with_lossy_server(lose: int, story: Callable[[LossyServer], Awaitable[T]]) -> T:
    async def main() -> T:
        ctx = zmq.asyncio.Context()
        server = LossyServer(ctx, lose)
        serving = asyncio.create_task(server.serve())
        try:
            return await story(server)
        finally:
            serving.cancel()
            server.sock.close(0)
            ctx.term()
    return run(main)


def test_a_lost_request_is_resent_with_the_same_req_id() -> None:
    async def story(server: LossyServer) -> int:
        async with AsyncClient(server.endpoint, timeout=0.3, retries=2, backoff=0.0) as ann:
            ann.wsess_uid, ann.token = "s", "t"
            balance = await ann.deposit(5)
        req_ids = {request["req_id"] for request in server.seen}
        assert len(server.seen) == 3 and len(req_ids) == 1, server.seen
        return balance
    assert with_lossy_server(2, story) == 5


def test_no_server_raises_no_reply_naming_the_endpoint() -> None:
    async def story(server: LossyServer) -> None:
        async with AsyncClient(server.endpoint, timeout=0.2, retries=1, backoff=0.0) as c:
            with pytest.raises(NoReply, match=server.endpoint):
                await c.ping()
        assert len(server.seen) == 2
    with_lossy_server(100, story)


def test_a_cancelled_call_leaves_the_client_usable() -> None:
    async def story(server: LossyServer) -> int:
        async with AsyncClient(server.endpoint, timeout=5.0) as ann:
            ann.wsess_uid, ann.token = "s", "t"
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(ann.deposit(5), timeout=0.3)
            return await ann.deposit(5)
    assert with_lossy_server(1, story) == 5
