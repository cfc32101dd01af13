"""What a purchase writes to the WAL, by saga step and b-tree (tools/walcost.py: real
SQLite files, deterministic page counts), and the deferred holds behind it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.walcost import WalCounter, measure
from vending import GATE_SCHEMA, STOCK_SCHEMA, Database, Stock
from vending.history import History

#: B-trees no step of a purchase may write any more: indexes that cost a page a
#: commit and serve no query of the hot path (vending/events.py, idempotency.py,
#: stock.py's reservations WITHOUT ROWID).
GONE = {"events_at", "idem_created", "idem_expiry", "sqlite_autoindex_reservations_1"}


@pytest.fixture(scope="module")
def unbatched() -> dict[str, dict[str, float]]:
    return {step: s["by_btree_per_commit"]
            for step, s in measure(1, rounds=4, warmup=10)["steps"].items()}


def test_an_unbatched_purchase_writes_no_index_that_only_cost_a_page(
        unbatched: dict[str, dict[str, float]]) -> None:
    for step, pages in unbatched.items():
        assert not GONE & set(pages), (step, pages)


def test_a_hold_and_its_release_each_write_one_page(
        unbatched: dict[str, dict[str, float]]) -> None:
    assert unbatched["reserve (stock handler)"] == {"reservations": 1}
    assert unbatched["settle (stock handler)"]["reservations"] == 1


def test_an_unbatched_purchase_writes_at_most_21_pages() -> None:
    """30.5 before (tools/walcost.py: clustered kept replies, events_at,
    idem_created, the reservations' key index), 20.1 after."""
    report = measure(1, rounds=4, warmup=10)
    total = sum(s["frames_per_purchase"] for s in report["steps"].values())
    assert total <= 21, report


def test_a_batch_of_32_kept_replies_writes_the_logs_last_pages_not_one_per_account() -> None:
    """Clustered by (scope, req_id), 32 accounts' replies wrote about 60 pages a
    commit, splits included (tools/walcost.py, before); appended, a few."""
    report = measure(32, rounds=2, warmup=20)
    for step in ("deposit (gatekeeper)", "charge (gatekeeper)"):
        pages = report["steps"][step]["by_btree_per_commit"]
        assert pages.get("idem", 0) <= 6, pages


def _rows(stock: Stock) -> list[tuple[str, int]]:
    return [(str(p), int(n)) for p, n in stock.db.conn.execute(
        "SELECT purchase_id, amount FROM reservations ORDER BY purchase_id")]


def test_a_batchs_holds_are_one_statement_and_seen_by_recovery(tmp_path: Path) -> None:
    stock = Stock(Database(tmp_path / "s.sqlite3", STOCK_SCHEMA), clock=lambda: 1.0)
    with stock.db.transaction():
        stock.hold("p1", "u", 1)
        stock.hold("p2", "u", 2)
        assert _rows(stock) == []  # deferred to the COMMIT
        assert stock.reservations() == ["p1", "p2"]  # recovery writes them first
    with stock.db.transaction():
        stock.hold("p3", "u", 3)
    assert _rows(stock) == [("p1", 1), ("p2", 2), ("p3", 3)]
    assert stock.held("u") == 6


def test_a_hold_released_in_its_own_transaction_leaves_no_row(tmp_path: Path) -> None:
    """Deferred statements run in the order each was first deferred: a release
    deferred before a hold of the same transaction must not run before its row."""
    stock = Stock(Database(tmp_path / "s.sqlite3", STOCK_SCHEMA), clock=lambda: 1.0)
    with stock.db.transaction():
        stock.hold("p0", "u", 1)
    with stock.db.transaction():
        stock.release("p0", ("u", 1), sold=False)  # the DELETE deferred first
        stock.hold("p1", "u", 1)
        stock.release("p1", ("u", 1), sold=False)
        stock.hold("p2", "u", 2)
    assert _rows(stock) == [("p2", 2)]
    assert stock.held("u") == 2


def test_a_rolled_back_hold_is_neither_stored_nor_held(tmp_path: Path) -> None:
    stock = Stock(Database(tmp_path / "s.sqlite3", STOCK_SCHEMA), clock=lambda: 1.0)
    with pytest.raises(RuntimeError), stock.db.transaction():
        stock.hold("p1", "u", 1)
        raise RuntimeError("rolled back")
    assert _rows(stock) == [] and stock.held("u") == 0
    with stock.db.transaction():
        stock.hold("p2", "u", 1)
        stock.release("p2", ("u", 1), sold=False)
    assert _rows(stock) == []


def _write_calls() -> int:
    """This process's write system calls so far (Linux: /proc/self/io)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("syscw:"):
            return int(line.split()[1])
    raise AssertionError("no syscw in /proc/self/io")


def test_a_batchs_rows_are_written_with_no_statement_journal(tmp_path: Path) -> None:
    """A multi-row INSERT that changes many existing pages needs a statement journal
    unless it runs `OR FAIL` (vending/db.py, `insert_rows`): past 64 KiB that copy
    went to a temporary file, about twenty pwrites more a commit. Here a commit's
    write calls are its WAL frames' two each, and nothing else."""
    db = Database(tmp_path / "g.sqlite3", GATE_SCHEMA)
    history = History(db, lambda: 1.0)
    with db.transaction() as conn:
        conn.executemany("INSERT INTO users(user_uid, username, role, pw_hash, created)"
                         " VALUES(?, ?, 'buyer', 'h', 1)", [(f"u{a}", f"n{a}") for a in range(40)])
        for n in range(20_000):  # each account's entries spread over many index leaves
            history.add(1 + n % 40, "deposit", amount=5)
    counter = WalCounter(db)
    before = _write_calls()
    with db.transaction():
        for account in range(1, 41):
            history.add(account, "deposit", amount=5)
    writes = _write_calls() - before
    frames = counter.count()
    assert frames >= 20  # enough changed pages to spill a statement journal
    assert writes <= 2 * frames + 1, (writes, frames)
