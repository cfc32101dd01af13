"""Bounds from docs/protocol.md §6, in one place."""

from __future__ import annotations

import re
import unicodedata

MAX_REQUEST_BYTES = 64 * 1024
USERNAME_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")
PASSWORD_MIN, PASSWORD_MAX = 8, 256
PRODUCT_NAME_MAX = 100
PRODUCT_UID_MAX = 64
SELLER_UID_MAX = 80
REQ_ID_MAX = 64
#: Credentials longer than this cannot be ours; they are refused as unknown.
CREDENTIAL_MAX = 512
COST_MAX = 100_000
STOCK_MAX = 1_000_000
UNITS_MAX = 1_000_000
DEPOSIT_MAX = 1_000_000
#: The `events` op: `since` is a seq (SQLite's integer range), `limit` events per reply.
SEQ_MAX = 2**63 - 1
EVENTS_LIMIT_MAX, EVENTS_LIMIT_DEFAULT = 1000, 100
#: The `history` op's page, and the `products` op's when paged.
HISTORY_LIMIT_MAX, HISTORY_LIMIT_DEFAULT = 100, 20
PRODUCTS_LIMIT_MAX = 1000
#: History ids and `before` are SQLite rowids.
ID_MAX = 2**63 - 1
#: Bidirectional formatting characters: they reorder what a terminal shows.
BIDI_FORMATTING = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
                            "\u2066\u2067\u2068\u2069")


def unsafe_char(ch: str) -> bool:
    """A control character (category Cc) or a bidi formatting one: never in a name,
    never printed raw (docs/protocol.md §6, product_name)."""
    return ch in BIDI_FORMATTING or unicodedata.category(ch) == "Cc"
