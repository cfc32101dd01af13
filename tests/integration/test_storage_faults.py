"""Storage faults: a full disk, a failing disk and a slow disk, survived gracefully.

The disk-full tests mount a 600 KiB tmpfs of their own, put both SQLite files
on it and fill it with a filler file: the errors come from SQLite and the
kernel, not from a mock. Where mounting is refused (not root), the same full
disk is injected at the commit point (actors/faults.py `<role>.commit=full`)
and the test says so with a warning (`pytest -rA` shows it); it is never skipped.
"""

from __future__ import annotations

import logging
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from actors import faults
from actors.system import VendingSystem
from tools.ledger import Ledger
from tools.smalldisk import MountRefused, SmallDisk
from transport.client import Client

FULL = "storage is full; retry later"
ROLES = ("gatekeeper", "stock-handler")


class InjectedDisk:
    """Stands in for a real small disk where mounting is refused."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir()

    def fill(self) -> None:
        for role in ROLES:
            faults.ACTIVE[f"{role}.commit"] = "full"

    def free(self) -> None:
        for role in ROLES:
            faults.ACTIVE.pop(f"{role}.commit", None)


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[SmallDisk | InjectedDisk]:
    """A data folder that `fill()` makes full and `free()` roomy again."""
    try:
        small = SmallDisk.mount(tmp_path / "disk")
    except MountRefused as exc:
        note = (f"cannot mount a tmpfs ({exc}): disk full is INJECTED at the commit point "
                "(actors/faults.py), not made for real")
        print(note)
        warnings.warn(note, stacklevel=1)
        injected = InjectedDisk(tmp_path / "injected")
        try:
            yield injected
        finally:
            injected.free()
        return
    try:
        yield small
    finally:
        small.unmount()


class Books:
    """Sends state-changing requests and keeps a ledger of the acknowledged ones."""

    def __init__(self) -> None:
        self.ledger = Ledger()
        self.acknowledged: list[tuple[dict[str, Any], dict[str, Any]]] = []

    def send(self, client: Client, who: str, op: str, **fields: Any) -> dict[str, Any]:
        assert client.wsess_uid and client.token
        message = {"op": op, "wsess_uid": client.wsess_uid, "token": client.token,
                   "req_id": fields.pop("req_id", None) or uuid.uuid4().hex, **fields}
        return self.resend(client, who, message)

    def resend(self, client: Client, who: str, message: dict[str, Any]) -> dict[str, Any]:
        reply = client.request(message)
        if reply.get("ok"):
            self.ledger.record(who, message, reply)
            self.acknowledged.append((message, reply))
        return reply


def storage_lines(caplog: pytest.LogCaptureFixture, text: str) -> dict[str, int]:
    return {role: sum(1 for r in caplog.records
                      if r.getMessage().startswith(f"{role}: storage {text}"))
            for role in ROLES}


def write_until_refused(books: Books, client: Client, who: str, op: str,
                        **fields: Any) -> dict[str, Any]:
    """Send `op` (a fresh req_id each) until storage refuses it; that request."""
    for _ in range(200):
        message = {"op": op, "wsess_uid": client.wsess_uid, "token": client.token,
                   "req_id": uuid.uuid4().hex, **fields}
        reply = books.resend(client, who, message)
        if not reply["ok"]:
            assert reply["error"] == "UNAVAILABLE", reply
            assert reply["message"] == FULL, reply
            return message
    pytest.fail(f"{op} never refused on a full disk")


def test_disk_full_refuses_writes_serves_reads_and_recovers_without_restart(
        disk: SmallDisk | InjectedDisk, make_system: Callable[..., VendingSystem],
        account: Callable[..., Client], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    system = make_system(data_dir=str(disk.path))
    books = Books()
    sam = account("sam", "seller", on=system, retries=0)
    ann = account("ann", on=system, retries=0)
    uid = books.send(sam, "sam", "sell", product_name="cola", cost=35, amount=10)[
        "product"]["product_uid"]
    books.send(ann, "ann", "deposit", amount=100)

    disk.fill()
    refused = [write_until_refused(books, sam, "sam", "sell", product_uid=uid, amount=1),
               write_until_refused(books, ann, "ann", "deposit", amount=5)]
    buy = {"op": "buy", "wsess_uid": ann.wsess_uid, "token": ann.token, "product_uid": uid,
           "amount": 2, "req_id": "buy-on-a-full-disk"}
    reply = books.resend(ann, "ann", buy)
    assert (reply["error"], reply["message"]) == ("UNAVAILABLE", FULL)
    refused.append(buy)
    # More writes: still refused at once, and still one log line per role.
    for _ in range(3):
        assert books.resend(sam, "sam", {**refused[0], "req_id": uuid.uuid4().hex}
                            )["message"] == FULL

    # Reads are served; profile's session touch is skipped, not failed.
    assert ann.ping()
    assert [p["product_uid"] for p in ann.products()] == [uid]
    assert ann.product(uid)["product_uid"] == uid
    assert ann.profile()["username"] == "ann"
    assert storage_lines(caplog, "full") == {"gatekeeper": 1, "stock-handler": 1}
    assert system.supervisor is not None and system.supervisor.restart_count == 0
    assert not [r for r in caplog.records if "restarted" in r.getMessage()]
    assert not [r for r in caplog.records if r.exc_info], "no traceback for a storage fault"

    disk.free()
    # Writes resume by themselves: the refused requests, retried with their
    # req_id, apply now (nothing of them had been applied).
    for message, who in zip(refused, ("sam", "ann", "ann"), strict=True):
        reply = books.resend(sam if who == "sam" else ann, who, message)
        assert reply["ok"], reply
    assert storage_lines(caplog, "writable again") == {"gatekeeper": 1, "stock-handler": 1}
    assert system.supervisor.restart_count == 0

    # Every acknowledged effect survives a restart; money and stock are conserved.
    sessions = {"ann": {"wsess_uid": ann.wsess_uid, "token": ann.token}}
    system.stop()
    again = make_system(data_dir=str(disk.path))
    with again.client(retries=0) as client:
        for message, first in books.acknowledged:
            replay = client.request(message)
            assert {k: v for k, v in replay.items() if k != "req_id"} == \
                   {k: v for k, v in first.items() if k != "req_id"}
        assert books.ledger.problems(client, sessions) == []
    for db in ("gatekeeper.sqlite3", "stock.sqlite3"):
        assert (disk.path / db).exists()


@pytest.mark.parametrize("action, message", [("ioerror", "storage is failing; retry later"),
                                             ("readonly", "storage is failing; retry later")])
def test_failing_storage_at_commit_is_refused_without_restart(
        make_system: Callable[..., VendingSystem], tmp_path: Path,
        account: Callable[..., Client], caplog: pytest.LogCaptureFixture,
        action: str, message: str) -> None:
    """An I/O error or a read-only file at COMMIT (injected: a real one needs a
    failing device) is a condition too: refused, logged once, then recovered."""
    caplog.set_level(logging.INFO)
    system = make_system(data_dir=str(tmp_path))
    books = Books()
    ann = account("ann", on=system, retries=0)
    try:
        faults.ACTIVE["gatekeeper.commit"] = action
        for _ in range(3):
            reply = books.send(ann, "ann", "deposit", amount=5)
            assert (reply["error"], reply["message"]) == ("UNAVAILABLE", message)
        assert ann.profile()["deposit"] == 0
    finally:
        faults.ACTIVE.pop("gatekeeper.commit", None)
    assert books.send(ann, "ann", "deposit", amount=5)["deposit"] == 5
    assert storage_lines(caplog, "failing")["gatekeeper"] == 1
    assert storage_lines(caplog, "writable again")["gatekeeper"] == 1
    assert system.supervisor is not None and system.supervisor.restart_count == 0
