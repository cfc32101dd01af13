"""Bounds from SPEC.md section 3, in one place."""

from __future__ import annotations

import re

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
