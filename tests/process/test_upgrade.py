"""Upgrades keep data: a folder written by release 26aa1c3's own code opens under this
one, is upgraded in place, and keeps every account, deposit, product, session, kept
reply and event; a folder from a newer release is refused with one line.

The old folder is built here, by running that release's code (tools/oldrelease.py
unpacks it from the git history), once per module: no opaque binary fixture.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from tools.oldrelease import (
    PASSWORD,
    RELEASE,
    Loaded,
    build_data_folder,
    old_server,
    rows,
    unpack,
)
from tools.serverproc import ServerProcess
from transport.client import Client
from vending import GATE_SCHEMA, STOCK_SCHEMA


@pytest.fixture(scope="module")
def old_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Release 26aa1c3's code, from this repository's git history."""
    return unpack(RELEASE, tmp_path_factory.mktemp("release"))


@pytest.fixture(scope="module")
def old_folder(tmp_path_factory: pytest.TempPathFactory, old_tree: Path) -> tuple[Path, Loaded]:
    """A data folder as release 26aa1c3 left it, and what it answered; copied per test."""
    folder = tmp_path_factory.mktemp("old") / "data"
    folder.mkdir()
    return folder, build_data_folder(folder, tree=old_tree)


@pytest.fixture
def folder(old_folder: tuple[Path, Loaded], tmp_path: Path) -> tuple[Path, Loaded]:
    import shutil
    source, loaded = old_folder
    copy = tmp_path / "data"
    shutil.copytree(source, copy)
    return copy, loaded


def _version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def _client(served: ServerProcess, session: dict[str, str] | None = None) -> Client:
    c = Client(served.endpoint, timeout=10.0)
    if session is not None:
        c.wsess_uid, c.token = session["wsess_uid"], session["token"]
    return c


def test_the_old_release_writes_no_schema_version(old_folder: tuple[Path, Loaded]) -> None:
    folder, loaded = old_folder
    assert _version(folder / "gatekeeper.sqlite3") == _version(folder / "stock.sqlite3") == 0
    assert loaded.rows["gatekeeper.sqlite3"]["users"] == 3
    assert "history" not in loaded.rows["gatekeeper.sqlite3"]


def test_an_old_folder_is_upgraded_in_place_and_keeps_everything(
        serve: Callable[..., ServerProcess], folder: tuple[Path, Loaded]) -> None:
    data, old = folder
    served = serve(data)
    assert _version(data / "gatekeeper.sqlite3") == GATE_SCHEMA.version == 4
    assert _version(data / "stock.sqlite3") == STOCK_SCHEMA.version == 2
    # Sessions: every old token still works, with the same account and deposit.
    for name, session in old.sessions.items():
        with _client(served, session) as c:
            assert c.profile() == old.profiles[name], name
    with _client(served) as c:
        assert [dict(p) for p in c.products()] == old.products
        for source, events in old.events.items():
            assert c.events(source, 0, 1000)["events"] == events
        # Passwords: the old hashes still open the accounts.
        assert c.login("ann", PASSWORD)["deposit"] == old.profiles["ann"]["deposit"]
        assert c.login("sam", PASSWORD, "seller")["role"] == "seller"
    # The kept reply is replayed and applies nothing again.
    with _client(served, old.sessions["ann"]) as ann:
        assert ann.request(old.kept["request"]) == old.kept["reply"]
        assert ann.profile()["deposit"] == old.profiles["ann"]["deposit"]
        # New ops work on old accounts; history starts at the upgrade (docs/design.md).
        assert ann.history()["entries"] == []
        ann.deposit(5)
        assert [e["kind"] for e in ann.history()["entries"]] == ["deposit"]
        # Event seqs continue where the old release stopped.
        last = old.events["gatekeeper"][-1]["seq"]
        new = ann.events("gatekeeper", last, 1000)
        assert [(e["seq"], e["topic"]) for e in new["events"]] == [(last + 1, "deposit")]
    assert served.terminate() == 0


def test_the_upgrade_keeps_every_row(serve: Callable[..., ServerProcess],
                                     folder: tuple[Path, Loaded]) -> None:
    data, old = folder
    assert serve(data).terminate() == 0
    now = rows(data)
    assert now["gatekeeper.sqlite3"].pop("history") == 0  # the new tables, empty
    assert now["gatekeeper.sqlite3"].pop("known_addresses") == 0
    assert now == old.rows


def test_an_upgraded_folder_opens_again_unchanged(serve: Callable[..., ServerProcess],
                                                   folder: tuple[Path, Loaded]) -> None:
    data, old = folder
    first = serve(data)
    assert first.terminate() == 0
    again = serve(data)
    with _client(again, old.sessions["bob"]) as bob:
        assert bob.profile() == old.profiles["bob"]
    assert _version(data / "gatekeeper.sqlite3") == GATE_SCHEMA.version


@pytest.mark.parametrize("db", ["gatekeeper.sqlite3", "stock.sqlite3"])
def test_a_folder_from_a_newer_release_is_refused_with_one_line(
        serve: Callable[..., ServerProcess], folder: tuple[Path, Loaded], db: str) -> None:
    data, _ = folder
    served = serve(data)
    assert served.terminate() == 0
    conn = sqlite3.connect(data / db)
    conn.execute("PRAGMA user_version=99")
    conn.close()
    refused = serve(data, wait_ready=False)
    assert refused.wait(30) != 0
    errors = [line for line in refused.lines if "error" in line]
    assert len(errors) == 1, refused.lines
    assert db in errors[0] and "schema version 99 is newer" in errors[0], errors[0]
    assert "downgrading is not supported" in errors[0]
    assert not any("Traceback" in line for line in refused.lines)
    assert _version(data / db) == 99  # left as it was



def test_release_26aa1c3_refuses_an_upgraded_folder_and_changes_nothing(
        serve: Callable[..., ServerProcess], folder: tuple[Path, Loaded], old_tree: Path) -> None:
    """It predates versions, so it cannot read them (docs/design.md, reading 36); its
    own SQL fails on the kept replies' log (a view holds the name of the index it
    would make), so it stops at start with one line, and the folder opens under
    this release as it was."""
    data, old = folder
    upgraded = serve(data)
    with _client(upgraded, old.sessions["ann"]) as ann:
        ann.deposit(5)
    assert upgraded.terminate() == 0
    before = rows(data)
    previous = old_server(old_tree, data)
    previous.launch()
    try:
        assert previous.wait(30) != 0
    finally:
        previous.kill()
    errors = [line for line in previous.lines if "error" in line]
    assert len(errors) == 1 and "idem_created" in errors[0], previous.lines
    assert rows(data) == before
    assert _version(data / "gatekeeper.sqlite3") == GATE_SCHEMA.version
    assert _version(data / "stock.sqlite3") == STOCK_SCHEMA.version
    with _client(serve(data), old.sessions["ann"]) as ann:
        assert ann.profile()["deposit"] == old.profiles["ann"]["deposit"] + 5
        assert [e["amount"] for e in ann.history()["entries"]] == [5]
        # The old release's kept reply survived the log's rebuild, and the new one too.
        assert ann.request(old.kept["request"]) == old.kept["reply"]
