"""How the CLI prints what came off the wire: JSON lines and table columns.

Both keep the terminal safe (no raw control or bidi formatting character, see
`cli.client_commands.printable`) and the text readable: emoji and accents stay as
they are, and a column is measured in the cells a terminal gives a character.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any

from vending.limits import unsafe_char


def json_line(value: Any) -> str:
    """`value` as one JSON line: non-ASCII text as itself (`"🥤"`, not surrogate
    escapes), but control and bidi formatting characters escaped (`\\u001b`)."""
    text = json.dumps(value, ensure_ascii=False)
    if not any(map(unsafe_char, text)):
        return text
    # Structural characters are ASCII: an unsafe one can only be inside a string.
    return "".join(json.dumps(ch)[1:-1] if unsafe_char(ch) else ch for ch in text)


def cells(ch: str) -> int:
    """Terminal columns `ch` takes: 2 for wide and full-width (emoji, CJK), 0 for a
    combining mark or zero-width format character, else 1."""
    if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def width(text: str) -> int:
    return sum(map(cells, text))


def fit(text: str, columns: int) -> str:
    """`text` cut to at most `columns` terminal columns and padded to exactly that."""
    used, kept = 0, []
    for ch in text:
        need = cells(ch)
        if used + need > columns:
            break
        kept.append(ch)
        used += need
    return "".join(kept) + " " * (columns - used)
