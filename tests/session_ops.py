"""Every op that needs a session, shared by the tiers that swap session credentials."""

from __future__ import annotations

from typing import Any

#: op -> (role that may call it, its other fields; "{product}" and "{password}" are
#: placeholders that `fields_for` fills in)
SESSION_OPS: dict[str, tuple[str, dict[str, Any]]] = {
    "deposit": ("buyer", {"amount": 5}),
    "buy": ("buyer", {"product_uid": "{product}", "amount": 1}),
    "reset": ("buyer", {}),
    "profile": ("buyer", {}),
    "logout": ("buyer", {}),
    "logout_all": ("buyer", {}),
    "delete_user": ("buyer", {"password": "{password}"}),
    "sell": ("seller", {"product_uid": "{product}", "amount": 1}),
    "delete_product": ("seller", {"product_uid": "{product}"}),
}


def fields_for(op: str, product_uid: str, password: str) -> dict[str, Any]:
    values = {"{product}": product_uid, "{password}": password}
    return {k: values.get(v, v) if isinstance(v, str) else v
            for k, v in SESSION_OPS[op][1].items()}
