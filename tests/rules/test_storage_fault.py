"""`storage_fault` (vending/db.py): which errors mean "the storage refused" (disk full,
read-only, I/O error) and which are something else, and the client's message for each.

The process tier fills a real disk (tests/process/test_disk_full.py); these are the
same judgements on errors SQLite and the OS really raise, without a full disk.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

import pytest

from vending.db import Database, StorageError, StorageFault, storage_fault


def _raised(fn) -> BaseException:  # type: ignore[no-untyped-def]
    with pytest.raises(BaseException) as info:
        fn()
    return info.value


def _full_error() -> sqlite3.Error:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t(x)")
    conn.execute("PRAGMA max_page_count=2")

    def fill() -> None:
        for _ in range(100):
            conn.execute("INSERT INTO t VALUES(?)", ("x" * 1000,))

    exc = _raised(fill)
    assert isinstance(exc, sqlite3.Error)
    return exc


def _readonly_error(tmp_path: Path) -> sqlite3.Error:
    path = tmp_path / "ro.db"
    sqlite3.connect(path).execute("CREATE TABLE t(x)")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    exc = _raised(lambda: conn.execute("INSERT INTO t VALUES(1)"))
    assert isinstance(exc, sqlite3.Error)
    return exc


def test_sqlite_full_is_a_full_fault() -> None:
    exc = _full_error()
    fault = storage_fault(exc)
    assert isinstance(fault, StorageFault) and isinstance(fault, StorageError)
    assert fault.full is True
    assert fault.reason == f"{exc} (SQLITE_FULL)"
    assert str(fault) == fault.reason
    assert fault.client_message() == "storage is full; retry later"


def test_sqlite_readonly_is_a_failing_fault(tmp_path: Path) -> None:
    exc = _readonly_error(tmp_path)
    fault = storage_fault(exc)
    assert isinstance(fault, StorageFault)
    assert fault.full is False
    assert fault.reason == f"{exc} (SQLITE_READONLY)"
    assert fault.client_message() == "storage is failing; retry later"


def test_sqlite_cantopen_is_a_failing_fault(tmp_path: Path) -> None:
    exc = _raised(lambda: sqlite3.connect(tmp_path / "missing" / "x.db"))
    fault = storage_fault(exc)
    assert fault is not None and fault.full is False
    assert fault.reason == f"{exc} (SQLITE_CANTOPEN)"


@pytest.mark.parametrize("code, full", [
    (sqlite3.SQLITE_IOERR, False),
    (sqlite3.SQLITE_IOERR | (3 << 8), False),  # an extended code: SQLITE_IOERR_WRITE
    (sqlite3.SQLITE_NOLFS, False),
    (sqlite3.SQLITE_FULL, True),
])
def test_primary_code_decides_even_under_an_extended_code(code: int, full: bool) -> None:
    exc = sqlite3.OperationalError("disk trouble")
    exc.sqlite_errorcode = code
    fault = storage_fault(exc)
    assert fault is not None and fault.full is full
    # No error name: the reason falls back to the number.
    assert fault.reason == f"disk trouble ({code})"


@pytest.mark.parametrize("code", [
    sqlite3.SQLITE_ERROR, sqlite3.SQLITE_CONSTRAINT, sqlite3.SQLITE_BUSY,
    # 0x100 | SQLITE_ERROR: only the low byte is the primary code
    sqlite3.SQLITE_FULL << 8 | sqlite3.SQLITE_ERROR,
])
def test_other_sqlite_codes_are_no_fault(code: int) -> None:
    exc = sqlite3.OperationalError("something else")
    exc.sqlite_errorcode = code
    assert storage_fault(exc) is None


def test_sqlite_errors_without_a_code_and_sql_errors_are_no_fault() -> None:
    assert storage_fault(sqlite3.OperationalError("no code")) is None
    conn = sqlite3.connect(":memory:")
    assert storage_fault(_raised(lambda: conn.execute("SELECT nope"))) is None
    assert storage_fault(_raised(lambda: conn.execute("SELEC 1"))) is None


@pytest.mark.parametrize("number, full", [
    (errno.ENOSPC, True), (errno.EDQUOT, True), (errno.EIO, False), (errno.EROFS, False),
])
def test_os_storage_errors_are_faults(number: int, full: bool) -> None:
    exc = OSError(number, os.strerror(number))
    fault = storage_fault(exc)
    assert fault is not None and fault.full is full
    assert fault.reason == str(exc)
    assert fault.client_message() == ("storage is full; retry later" if full
                                      else "storage is failing; retry later")


@pytest.mark.parametrize("exc", [
    OSError(errno.ENOENT, "No such file"), OSError(errno.EACCES, "denied"), OSError("no errno"),
    ValueError("not storage"), KeyError("x"),
])
def test_other_errors_are_no_fault(exc: BaseException) -> None:
    assert storage_fault(exc) is None


def test_a_fault_is_returned_as_is() -> None:
    fault = StorageFault("already judged", full=True)
    assert storage_fault(fault) is fault


def test_a_full_database_raises_a_full_fault_and_rolls_back() -> None:
    db = Database(None, "CREATE TABLE t(x);")
    db.conn.execute("PRAGMA max_page_count=3")
    with pytest.raises(sqlite3.Error) as info, db.transaction() as conn:
        for _ in range(100):
            conn.execute("INSERT INTO t VALUES(?)", ("x" * 1000,))
    fault = storage_fault(info.value)
    assert fault is not None and fault.full is True
    assert not db.conn.in_transaction
    assert db.conn.execute("SELECT count(*) FROM t").fetchone()[0] == 0
