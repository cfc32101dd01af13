"""The vending machine's rules and their storage: plain objects, no actors, no sockets.

`vending.ops` is the table of ops: one row per op says everything about it and
names the rule that answers it. `Gate` is the gatekeeper's controller (users,
sessions, deposits), `Stock` the stock handler's (products, reservations);
`vending.purchase` holds every rule of a buy; `parse_request` checks what clients
send; `vending.local` answers any op in one process. Nothing here imports pykka,
zmq or msgpack.
"""

from .authority import Grant
from .coins import COINS, make_change
from .db import Database, StorageError
from .errors import CODES, ClientError, ServerError, VendingError, error_for_code
from .gate import SCHEMA as GATE_SCHEMA
from .gate import Gate
from .info import VERSION as __version__
from .ops import OPS, SESSION_OPS, STATE_CHANGING_OPS, TABLE, Op
from .outcome import CryptoJob, Outcome
from .purchase import ChargeResult, ChargeStep, Resolution
from .requests import Request, parse_request
from .sessions import SessionPolicy
from .stock import SCHEMA as STOCK_SCHEMA
from .stock import Offer, Stock
from .throttle import LoginThrottle, ThrottleConfig
from .wallet import Wallet

__all__ = [
    "CODES", "COINS", "GATE_SCHEMA", "OPS", "SESSION_OPS", "STATE_CHANGING_OPS",
    "STOCK_SCHEMA", "TABLE", "ChargeResult", "ChargeStep", "ClientError", "CryptoJob",
    "Database", "Gate", "Grant", "LoginThrottle", "Offer", "Op", "Outcome", "Request",
    "Resolution", "ServerError", "SessionPolicy", "Stock", "StorageError", "ThrottleConfig",
    "VendingError", "Wallet", "__version__", "error_for_code", "make_change", "parse_request",
]
