"""`vending`'s public names are loaded from their modules on first use
(vending/__init__.py), so a client that only checks requests loads no SQLite."""

from __future__ import annotations

import pytest

import vending
from vending import (
    authority,
    coins,
    db,
    errors,
    gate,
    ops,
    outcome,
    purchase,
    requests,
    sessions,
    stock,
    throttle,
    wallet,
)

#: Each public name and the object it stands for.
EXPECTED = {
    "Grant": authority.Grant, "COINS": coins.COINS, "make_change": coins.make_change,
    "Database": db.Database, "StorageError": db.StorageError, "CODES": errors.CODES,
    "ClientError": errors.ClientError, "ServerError": errors.ServerError,
    "VendingError": errors.VendingError, "error_for_code": errors.error_for_code,
    "GATE_SCHEMA": gate.SCHEMA, "Gate": gate.Gate, "OPS": ops.OPS,
    "SESSION_OPS": ops.SESSION_OPS, "STATE_CHANGING_OPS": ops.STATE_CHANGING_OPS,
    "TABLE": ops.TABLE, "Op": ops.Op, "CryptoJob": outcome.CryptoJob,
    "Outcome": outcome.Outcome, "ChargeResult": purchase.ChargeResult,
    "ChargeStep": purchase.ChargeStep, "Resolution": purchase.Resolution,
    "Request": requests.Request, "parse_request": requests.parse_request,
    "SessionPolicy": sessions.SessionPolicy, "STOCK_SCHEMA": stock.SCHEMA,
    "Offer": stock.Offer, "Stock": stock.Stock, "LoginThrottle": throttle.LoginThrottle,
    "ThrottleConfig": throttle.ThrottleConfig, "Wallet": wallet.Wallet,
}


def test_every_public_name_is_listed_here() -> None:
    assert set(vending.__all__) == set(EXPECTED) | {"__version__"}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_public_name_is_its_modules_object_on_first_use_and_after(
        name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Another test (or an import) may have used the name already: use it afresh.
    monkeypatch.delitem(vending.__dict__, name, raising=False)
    assert getattr(vending, name) is EXPECTED[name]
    assert getattr(vending, name) is EXPECTED[name]  # kept: no second import


def test_an_unknown_name_is_an_attribute_error_naming_it() -> None:
    with pytest.raises(AttributeError, match="'no_such_name'"):
        vending.no_such_name  # noqa: B018 - the lookup is the test
