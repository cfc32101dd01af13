"""The vending machine's rules and their storage: plain objects, no actors, no sockets.

`Accounts` is the gatekeeper's state (users, sessions, deposits), `Stock` the
stock handler's (products, reservations); `vending.purchase` holds every rule
of a buy, `vending.ops` the table of ops; `parse_request` checks what clients
send. Nothing here imports pykka, zmq or msgpack.
"""

# requests first: vending/ops.py builds its table from the checks defined there.
from .requests import OPS, SESSION_OPS, STATE_CHANGING_OPS, Request, parse_request  # isort: skip
from .accounts import SCHEMA as ACCOUNTS_SCHEMA
from .accounts import Accounts, CryptoJob, Outcome
from .authority import Authorized
from .coins import COINS, make_change
from .db import Database, StorageError
from .errors import CODES, ClientError, ServerError, VendingError, error_for_code
from .ops import TABLE, Op
from .purchase import Charged, ChargeStep, Resolved, buy_locally
from .sessions import SessionPolicy
from .stock import SCHEMA as STOCK_SCHEMA
from .stock import Offer, Stock
from .throttle import LoginThrottle, ThrottleConfig
from .wallet import Wallet

__version__ = "0.1.0"

__all__ = [
    "ACCOUNTS_SCHEMA", "CODES", "COINS", "OPS", "SESSION_OPS", "STATE_CHANGING_OPS",
    "STOCK_SCHEMA", "TABLE", "Accounts", "Authorized", "ChargeStep", "Charged", "ClientError",
    "CryptoJob", "Database", "LoginThrottle", "Offer", "Op", "Outcome", "Request", "Resolved",
    "ServerError", "SessionPolicy", "Stock", "StorageError", "ThrottleConfig", "VendingError",
    "Wallet", "__version__", "buy_locally", "error_for_code", "make_change", "parse_request",
]
