"""The error family of the vending rules, each error carrying its wire code.

`ClientError` subclasses are the caller's fault and are safe to send back
verbatim; `ServerError` subclasses are ours and are sent with a generic text.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "CODES",
    "BadRequest",
    "BuyersOnly",
    "ClientError",
    "DuplicateUsername",
    "InsufficientDeposit",
    "InsufficientStock",
    "Internal",
    "InvalidCredentials",
    "NotOwner",
    "ProductNotFound",
    "RateLimited",
    "SellersOnly",
    "ServerError",
    "Unauthorized",
    "Unavailable",
    "VendingError",
    "WrongAmount",
    "WrongCost",
    "error_for_code",
]


class VendingError(Exception):
    """Base of every error with a docs/protocol.md §7 code."""

    code: ClassVar[str] = "INTERNAL"

    def __init__(self, message: str = "") -> None:
        super().__init__(message or self.code)
        self.message = message or self.code

    def to_reply(self) -> dict[str, object]:
        return {"ok": False, "error": self.code, "message": self.message}


class ClientError(VendingError):
    """The request is at fault; retrying it unchanged gives the same answer."""


class ServerError(VendingError):
    """We are at fault; the request may succeed when retried."""


class BadRequest(ClientError):
    code = "BAD_REQUEST"


class Unauthorized(ClientError):
    code = "UNAUTHORIZED"


class DuplicateUsername(ClientError):
    code = "DUPLICATE_USERNAME"


class InvalidCredentials(ClientError):
    code = "INVALID_CREDENTIALS"


class BuyersOnly(ClientError):
    code = "BUYERS_ONLY"


class SellersOnly(ClientError):
    code = "SELLERS_ONLY"


class NotOwner(ClientError):
    code = "NOT_OWNER"


class WrongAmount(ClientError):
    code = "WRONG_AMOUNT"


class WrongCost(ClientError):
    code = "WRONG_COST"


class ProductNotFound(ClientError):
    code = "PRODUCT_NOT_FOUND"


class InsufficientStock(ClientError):
    code = "INSUFFICIENT_STOCK"


class InsufficientDeposit(ClientError):
    code = "INSUFFICIENT_DEPOSIT"


class RateLimited(ClientError):
    code = "RATE_LIMITED"


class Unavailable(ServerError):
    code = "UNAVAILABLE"


class Internal(ServerError):
    code = "INTERNAL"


_ALL: tuple[type[VendingError], ...] = (
    BadRequest,
    Unauthorized,
    DuplicateUsername,
    InvalidCredentials,
    BuyersOnly,
    SellersOnly,
    NotOwner,
    WrongAmount,
    WrongCost,
    ProductNotFound,
    InsufficientStock,
    InsufficientDeposit,
    RateLimited,
    Unavailable,
    Internal,
)

CODES: dict[str, type[VendingError]] = {cls.code: cls for cls in _ALL}


def error_for_code(code: str, message: str) -> VendingError:
    """Rebuild the error a reply names; unknown codes become `Internal`."""
    return CODES.get(code, Internal)(message)
