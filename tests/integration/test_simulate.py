"""`vending simulate`'s harness as a test helper: simulated buyers and sellers
against an embedded system, the invariants checked from the server's answers,
the same seed giving the same intended operations, and a ledger that really
notices when the server's answers disagree with what it acknowledged."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from actors.system import VendingSystem
from cli.main import main
from tools.ledger import MONEY, NEGATIVE, OVERSELL, STOCK, Ledger
from tools.simulate import Report, Scenario, run_scenario
from tools.simusers import SimUser, World
from transport.client import Client


@pytest.fixture
def simulate(system: VendingSystem) -> Callable[..., Report]:
    """`simulate(buyers=..., seed=...)` -> the Report of that scenario run on `system`."""
    def run(**options: Any) -> Report:
        return run_scenario(Scenario(**options), system=system)
    return run


def session_of(client: Client) -> dict[str, str]:
    assert client.wsess_uid and client.token
    return {"wsess_uid": client.wsess_uid, "token": client.token}


def test_a_small_scenario_keeps_every_invariant(simulate: Callable[..., Report]) -> None:
    report = simulate(buyers=3, sellers=2, ops=300, seed=1)

    assert not report.violations, report.text()
    assert report.ops == 300
    assert report.ops_by_kind["register"] == 5
    assert {"deposit", "buy", "reset", "relogin", "create", "restock"} <= set(report.ops_by_kind)
    assert report.buyers_checked == 3
    assert report.products_checked >= 4  # each seller opens with two products
    assert report.requests >= report.ops  # a relogin is a login and a logout
    assert "ok, no violations" in report.text()


def test_the_same_seed_gives_the_same_intended_operations() -> None:
    scenario = Scenario(buyers=3, sellers=2, ops=250, seed=7)
    first, second = run_scenario(scenario), run_scenario(scenario)
    other = run_scenario(Scenario(buyers=3, sellers=2, ops=250, seed=8))

    assert first.intended == second.intended
    assert first.intended_sha256 == second.intended_sha256
    assert other.intended_sha256 != first.intended_sha256
    assert not first.violations + second.violations + other.violations


def test_intended_operations_depend_on_the_seed_alone() -> None:
    """Planned again offline, with no server and no replies, each user's list is the same."""
    report = run_scenario(Scenario(buyers=2, sellers=1, ops=150, seed=11))
    world = World(seed=11, sellers=1, scarce_units=3)
    for name, recorded in report.intended.items():
        role = "buyer" if name.startswith("b") else "seller"
        user = SimUser(world, role, int(name[1:]), budget=None)
        replanned = []
        for _ in recorded:
            op = user.plan()
            user.intended.append(op)
            replanned.append(op.as_list())
        assert replanned == recorded, name


def test_buyers_racing_for_scarce_stock_are_refused_never_oversold(
        simulate: Callable[..., Report]) -> None:
    report = simulate(buyers=6, sellers=1, ops=420, seed=3, scarce_units=1)

    assert report.errors_by_code.get("INSUFFICIENT_STOCK", 0) > 0, report.text()
    assert report.invariants[OVERSELL] == []
    assert report.invariants[STOCK] == []
    assert not report.violations, report.text()


def test_runs_over_tcp_and_in_time_mode_on_a_shared_server(
        simulate: Callable[..., Report], tcp_endpoint: str, system: VendingSystem,
        wait_until: Callable[..., Any]) -> None:
    """Two runs on one server: each checks only its own users and products.

    The time-mode run is given an hour and stopped once units of its products have
    been taken: what ends it is an observable condition, not a short timer."""
    embedded = simulate(buyers=2, sellers=1, ops=120, seed=5)
    probe = system.client()
    theirs = {p["product_uid"] for p in probe.products()}
    peak: dict[str, int] = {}

    def units_taken() -> bool:
        taken = False
        for product in probe.products():
            uid, amount = product["product_uid"], product["amount"]
            if uid not in theirs:
                taken = taken or amount < peak.get(uid, amount)
                peak[uid] = max(amount, peak.get(uid, amount))
        return taken

    stop, reports = threading.Event(), []
    runner = threading.Thread(target=lambda: reports.append(run_scenario(
        Scenario(buyers=2, sellers=1, duration=3600.0, seed=5), endpoint=tcp_endpoint,
        stop=stop)))
    runner.start()
    try:
        wait_until(units_taken, what="the time-mode run to take units")
    finally:
        stop.set()
        runner.join()
    timed = reports[0]
    registered = sum(1 for name, ops in timed.intended.items() if name.startswith("b") and ops)

    assert not embedded.violations + timed.violations, timed.text()
    assert timed.target == tcp_endpoint and timed.stopped_early
    assert timed.ops > 0 and registered >= 1
    assert timed.buyers_checked == registered  # every buyer that acted was checked


def test_the_ledger_notices_a_deposit_the_server_never_took(account: Any,
                                                            system: VendingSystem) -> None:
    ann = account("ann", "buyer", deposit=50)
    ledger = Ledger()
    ledger.record("ann", {"op": "deposit", "amount": 50}, {"ok": True, "deposit": 50})
    checker = system.client()
    assert ledger.problems(checker, {"ann": session_of(ann)}) == []

    ledger.record("ann", {"op": "deposit", "amount": 20}, {"ok": True, "deposit": 70})
    ledger.record("ann", {"op": "deposit", "amount": 10}, {"ok": False, "error": "WRONG_AMOUNT"})
    verdict = ledger.check(checker, {"ann": session_of(ann)})

    assert verdict.problems[MONEY] == ["ann: deposit 50, expected 70"]
    assert verdict.flat() == ["ann: deposit 50, expected 70"]


def test_the_ledger_notices_oversold_and_missing_stock(account: Any,
                                                       system: VendingSystem) -> None:
    sam = account("sam", "seller")
    cola = sam.sell("cola", 35, 2)
    uid = cola["product_uid"]
    ledger = Ledger()
    ledger.record("sam", {"op": "sell", "product_name": "cola", "cost": 35, "amount": 2},
                  {"ok": True, "product": cola})
    assert ledger.problems(system.client(), {}) == []

    ledger.record("ann", {"op": "buy", "product_uid": uid, "amount": 3},
                  {"ok": True, "product_uid": uid, "amount": 3, "spent": 105, "change": []})
    ledger.record("sam", {"op": "sell", "product_name": "ghost", "cost": 5, "amount": 1},
                  {"ok": True, "product": {**cola, "product_uid": "p9999999999"}})
    verdict = ledger.check(system.client(), {}, sellers=[cola["seller_uid"]])

    assert verdict.problems[STOCK] == [f"{uid}: 2 left, expected 2 added - 3 sold",
                                       "p9999999999: acknowledged but not listed"]
    assert verdict.problems[OVERSELL] == [f"{uid}: 3 sold, only 2 added"]
    assert verdict.problems[NEGATIVE] == []
    assert ledger.expected_stock() == {uid: -1, "p9999999999": 1}


def test_the_command_prints_a_report_and_fails_on_a_violation(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    assert main(["simulate", "--live", "--buyers", "2", "--sellers", "1", "--ops", "60"]) == 0
    out = capsys.readouterr().out
    assert "ok, no violations" in out and "money conservation per buyer" in out
    assert "ok    events: money conservation" in out and "events: stock conservation" in out

    real = Ledger.expected_deposits
    monkeypatch.setattr(Ledger, "expected_deposits",
                        lambda self: {b: d + 5 for b, d in real(self).items()})
    assert main(["simulate", "--live", "--buyers", "2", "--sellers", "1", "--ops", "60",
                 "--json"]) == 1
    # both buyers' deposits, and the events' money total, disagree with the ledger
    assert '"violations": 3' in capsys.readouterr().out
