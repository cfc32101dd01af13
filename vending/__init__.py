"""The vending machine's rules and their storage: plain objects, no actors, no sockets.

`Accounts` is the gatekeeper's state (users, sessions, deposits), `Stock` the
stock handler's (products, reservations); `parse_request` checks what clients
send. Nothing here imports pykka, zmq or msgpack.
"""

from .accounts import SCHEMA as ACCOUNTS_SCHEMA
from .accounts import Accounts, Authorized, Charge, CryptoJob, Outcome
from .coins import COINS, make_change
from .db import Database, StorageError
from .errors import CODES, ClientError, ServerError, VendingError, error_for_code
from .requests import OPS, SESSION_OPS, STATE_CHANGING_OPS, Request, parse_request
from .sessions import SessionPolicy
from .stock import SCHEMA as STOCK_SCHEMA
from .stock import Reserved, Stock
from .throttle import LoginThrottle, ThrottleConfig

__version__ = "0.1.0"

__all__ = [
    "ACCOUNTS_SCHEMA", "CODES", "COINS", "OPS", "SESSION_OPS", "STATE_CHANGING_OPS",
    "STOCK_SCHEMA", "Accounts", "Authorized", "Charge", "ClientError", "CryptoJob", "Database",
    "LoginThrottle", "Outcome", "Request", "Reserved", "ServerError", "SessionPolicy", "Stock",
    "StorageError", "ThrottleConfig", "VendingError", "__version__", "error_for_code",
    "make_change", "parse_request",
]
