"""The clients' typed results (transport/results.py) are what the server sends: each
reply has every key its TypedDict requires and none it does not name."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from actors.system import VendingSystem
from transport.aio import AsyncClient
from transport.client import Client
from transport.results import AuthReply, EventsPage, Profile, Purchase, UserDeleted

PASSWORD = "correct horse battery"


def fits(reply: Mapping[str, Any], kind: Any) -> bool:
    keys = set(reply)
    return kind.__required_keys__ <= keys <= kind.__required_keys__ | kind.__optional_keys__


def test_every_dict_result_is_its_typed_dict(system: VendingSystem,
                                             account: Callable[..., Client]) -> None:
    sam = account("sam", "seller")
    cola = sam.sell("cola", 35, 5)
    buyer = system.client()
    assert fits(buyer.register("ann", PASSWORD), AuthReply)
    buyer.deposit(50)
    bought = buyer.buy(cola["product_uid"])
    assert fits(bought, Purchase) and bought["change"] == [10, 5]
    assert fits(buyer.profile(), Profile)
    again = system.client()
    login = again.login("ann", PASSWORD)
    assert fits(login, AuthReply) and login["active_sessions"] == 1
    assert fits(again.events("gatekeeper"), EventsPage)
    assert fits(again.delete_user(PASSWORD), UserDeleted)
    # The one-value ops keep returning that value.
    assert isinstance(sam.products(), list) and isinstance(sam.logout(), int)


def test_the_asyncio_client_returns_the_same(system: VendingSystem) -> None:
    async def story() -> tuple[Any, Any]:
        async with AsyncClient(system.config.inproc_door, context=system.ctx) as ann:
            registered = await ann.register("ann", PASSWORD)
            return registered, await ann.profile()
    registered, profile = asyncio.run(story())
    assert fits(registered, AuthReply) and fits(profile, Profile)
