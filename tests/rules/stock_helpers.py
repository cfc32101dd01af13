"""Tier-1 helpers: a `Stock` driven directly, the way the stock handler's shell does."""

from __future__ import annotations

from typing import Any

from vending import Request, Stock, parse_request
from vending.call import Call
from vending.purchase import ChargeStep, reserve


def product_of(stock: Stock, uid: str) -> dict[str, Any]:
    return stock.answer(Call(parse_request({"op": "product", "product_uid": uid}))).reply


def products_of(stock: Stock) -> dict[str, Any]:
    return stock.answer(Call(parse_request({"op": "products"}))).reply


def reserve_at(stock: Stock, pid: str, req: Request) -> ChargeStep:
    """Purchase step 1 for `req` under purchase id `pid`."""
    return reserve(stock, Call(req, pid=pid))
