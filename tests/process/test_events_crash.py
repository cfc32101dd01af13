"""SIGKILL `vending serve` under load, restart it, re-send what was lost: the stored
events then match the committed effects one for one, and each source's seq runs
from 1 with no hole (docs/protocol.md §6a: the event commits with its effect).

Every lost request is re-sent with its req_id until it has a final reply, so the
clients' acknowledged successes are exactly the committed effects.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from test_crash import PASSWORD, Actor, load_then_kill, resend

from transport.client import Client

CYCLES = 2


def stored(client: Client, source: str) -> list[dict[str, Any]]:
    """Every stored event of `source`, paged through the `events` op."""
    events: list[dict[str, Any]] = []
    while True:
        page = client.events(source, events[-1]["seq"] if events else 0, 1000)
        events += page["events"]
        if len(page["events"]) < 1000:
            return events


@pytest.mark.slow
def test_after_sigkill_the_events_match_the_committed_effects(
        serve: Any, tmp_path: Path, wait_until: Any) -> None:
    data = tmp_path / "data"
    server = serve(data, "--request-timeout", "3")
    endpoint = server.endpoint
    actors: list[Actor] = []
    products: list[str] = []
    with Client(endpoint, timeout=10) as setup:
        setup.register("seller0", PASSWORD, "seller")
        products.append(setup.sell("item0", 15, 50)["product_uid"])
        actors.append(Actor("seller0", "seller", setup.wsess_uid or "", setup.token or "",
                            product=products[0]))
        for n in range(3):
            setup.register(f"buyer{n}", PASSWORD)
            actors.append(Actor(f"buyer{n}", "buyer", setup.wsess_uid or "", setup.token or ""))

    for cycle in range(CYCLES):
        load_then_kill(server, actors, endpoint, products, wait_until, cycle)
        server = serve(data, "--request-timeout", "3", endpoint=endpoint)
        for actor in actors:
            resend(actor, endpoint)

    ok = [(m, r) for a in actors for m, r in a.acked if r.get("ok")]
    buys = [(m, r) for m, r in ok if m["op"] == "buy"]
    with Client(endpoint, timeout=10) as check:
        # A buy's reply leaves before its settle commits: wait for the last "sold".
        wait_until(lambda: sum(e.get("kind") == "sold" for e in stored(check, "stock-handler"))
                   == len(buys), what="every purchase settled")
        gk, sh = stored(check, "gatekeeper"), stored(check, "stock-handler")
        left = check.product(products[0])["amount"]

    for events in (gk, sh):
        assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    by_topic = Counter(e["topic"] for e in gk)
    assert by_topic == Counter({"user": 4, **Counter(
        {"deposit": "deposit", "buy": "purchase", "reset": "reset"}[m["op"]]
        for m, _ in ok if m["op"] != "sell")})
    assert Counter(e["amount"] for e in gk if e["topic"] == "deposit") == Counter(
        m["amount"] for m, _ in ok if m["op"] == "deposit")
    assert sorted((e["product_uid"], e["amount"], e["spent"], e["change"])
                  for e in gk if e["topic"] == "purchase") == sorted(
        (r["product_uid"], r["amount"], r["spent"], r["change"]) for _, r in buys)
    assert sorted(e["change"] for e in gk if e["topic"] == "reset") == sorted(
        r["change"] for m, r in ok if m["op"] == "reset")

    kinds = Counter(e["kind"] for e in sh if e["topic"] == "product")
    assert kinds == Counter({"created": 1, "updated": sum(m["op"] == "sell" for m, _ in ok),
                             "sold": len(buys)})
    # stock conservation from the events alone: added = left + sold
    sells = [m["amount"] for m, _ in ok if m["op"] == "sell"]
    assert 50 + sum(sells) == left + sum(e["amount"] for e in gk if e["topic"] == "purchase")
