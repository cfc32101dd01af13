"""The vending machine's rules and their storage: plain objects, no actors, no sockets.

`vending.ops` is the table of ops: one row per op says everything about it and
names the rule that answers it. `Gate` is the gatekeeper's controller (users,
sessions, deposits), `Stock` the stock handler's (products, reservations);
`vending.purchase` holds every rule of a buy; `parse_request` checks what clients
send; `vending.local` answers any op in one process. Nothing here imports pykka,
zmq or msgpack.

The names below are loaded on first use, so a client that only checks requests
(`vending.requests`) or reads error codes does not load SQLite or argon2.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .info import VERSION as __version__

if TYPE_CHECKING:
    from .authority import Grant
    from .coins import COINS, make_change
    from .db import Database, StorageError
    from .errors import CODES, ClientError, ServerError, VendingError, error_for_code
    from .gate import SCHEMA as GATE_SCHEMA
    from .gate import Gate
    from .ops import OPS, SESSION_OPS, STATE_CHANGING_OPS, TABLE, Op
    from .outcome import CryptoJob, Outcome
    from .purchase import ChargeResult, ChargeStep, Resolution
    from .requests import Request, parse_request
    from .sessions import SessionPolicy
    from .stock import SCHEMA as STOCK_SCHEMA
    from .stock import Offer, Stock
    from .throttle import LoginThrottle, ThrottleConfig
    from .wallet import Wallet

#: Each public name: (submodule, name there).
_WHERE = {
    "Grant": ("authority", "Grant"), "COINS": ("coins", "COINS"),
    "make_change": ("coins", "make_change"), "Database": ("db", "Database"),
    "StorageError": ("db", "StorageError"), "CODES": ("errors", "CODES"),
    "ClientError": ("errors", "ClientError"), "ServerError": ("errors", "ServerError"),
    "VendingError": ("errors", "VendingError"), "error_for_code": ("errors", "error_for_code"),
    "GATE_SCHEMA": ("gate", "SCHEMA"), "Gate": ("gate", "Gate"), "OPS": ("ops", "OPS"),
    "SESSION_OPS": ("ops", "SESSION_OPS"), "STATE_CHANGING_OPS": ("ops", "STATE_CHANGING_OPS"),
    "TABLE": ("ops", "TABLE"), "Op": ("ops", "Op"), "CryptoJob": ("outcome", "CryptoJob"),
    "Outcome": ("outcome", "Outcome"), "ChargeResult": ("purchase", "ChargeResult"),
    "ChargeStep": ("purchase", "ChargeStep"), "Resolution": ("purchase", "Resolution"),
    "Request": ("requests", "Request"), "parse_request": ("requests", "parse_request"),
    "SessionPolicy": ("sessions", "SessionPolicy"), "STOCK_SCHEMA": ("stock", "SCHEMA"),
    "Offer": ("stock", "Offer"), "Stock": ("stock", "Stock"),
    "LoginThrottle": ("throttle", "LoginThrottle"),
    "ThrottleConfig": ("throttle", "ThrottleConfig"), "Wallet": ("wallet", "Wallet"),
}

__all__ = [
    "CODES", "COINS", "GATE_SCHEMA", "OPS", "SESSION_OPS", "STATE_CHANGING_OPS",
    "STOCK_SCHEMA", "TABLE", "ChargeResult", "ChargeStep", "ClientError", "CryptoJob",
    "Database", "Gate", "Grant", "LoginThrottle", "Offer", "Op", "Outcome", "Request",
    "Resolution", "ServerError", "SessionPolicy", "Stock", "StorageError", "ThrottleConfig",
    "VendingError", "Wallet", "__version__", "error_for_code", "make_change", "parse_request",
]


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module 'vending' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{where[0]}", __name__), where[1])
    globals()[name] = value
    return value
