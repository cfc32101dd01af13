"""An example of the simulation API in a user's own test (docs/simulation.md)."""

from __future__ import annotations

from simulation import Simulation


def test_two_hours_of_a_busy_shop_keep_every_guarantee() -> None:
    with Simulation(seed=7, faults="all") as sim:
        for name in ("ann", "bob", "cid"):
            sim.buyer(name)
        sim.seller("sam")
        sim.run(hours=2, steps=20_000)
        result = sim.finish()
    assert result.violations == []
    assert result.requests > 100
    assert result.faults > 0


def test_a_scripted_buyer_gets_the_answers_the_protocol_promises() -> None:
    with Simulation(seed=1, faults="none") as sim:
        sam = sim.seller("sam", autonomous=False)
        sam.sell("cola", cost=35, amount=2)
        sim.run(minutes=1)
        uid = sam.replies[-1]["product"]["product_uid"]
        ann = sim.buyer("ann", autonomous=False)
        ann.deposit(50)
        ann.buy(uid, 1)
        ann.buy(uid, 5)
        sim.run(minutes=1)
        result = sim.finish()
    assert result.violations == []
    registered, deposit, bought, refused = ann.replies
    assert registered["ok"] and deposit["deposit"] == 50
    assert bought["spent"] == 35 and bought["change"] == [10, 5]
    assert refused["error"] in ("INSUFFICIENT_DEPOSIT", "INSUFFICIENT_STOCK")
