"""JSON text as the owners store it (kept replies, event bodies, purchase replies)
and as fingerprints hash it.

The encoders are built once: `json.dumps` with any option builds a new
`JSONEncoder` per call, which profiled at a third of the cost of the encoding,
and `JSONEncoder.encode` itself builds a new C encoder (`c_make_encoder`) per
call, about 40% of what is left (2.4 against 4.2 microseconds a kept reply). So
the C encoder is made once here and called directly. Its text is exactly
`JSONEncoder.encode`'s (ASCII, floats by `repr`, NaN and infinities allowed);
it does not look for circular references (ours are trees: what these encode
comes from a decoded request or a rule's reply), so a cycle would end in
RecursionError rather than ValueError.
"""

from __future__ import annotations

from collections.abc import Callable
from json.encoder import c_make_encoder, encode_basestring_ascii  # type: ignore[attr-defined]
from typing import Any

__all__ = ["canonical", "compact", "compact_with"]


def _not_json(value: Any) -> Any:
    raise TypeError(f"Object of type {value.__class__.__name__} is not JSON serializable")


def _encoder(*, sort_keys: bool) -> Callable[[Any], str]:
    # CPython always builds its _json accelerator; without it this fails at import.
    chunks = c_make_encoder(None, _not_json, encode_basestring_ascii, None, ":", ",",
                            sort_keys, False, True)

    def encode(value: Any) -> str:
        return "".join(chunks(value, 0))
    return encode


#: `json.dumps(value, separators=(",", ":"))`, without the per-call encoders.
compact = _encoder(sort_keys=False)
#: The same with keys sorted: one text per value (request fingerprints).
canonical = _encoder(sort_keys=True)


def compact_with(text: str, key: str, value: Any) -> str:
    """`compact({**obj, key: value})` from `text`, `compact(obj)` of a map without `key`:
    a map that differs from one already encoded by a last key is not encoded again
    (a purchase's history entry is its sale's with the change added)."""
    head = "{" if text == "{}" else text[:-1] + ","
    return f"{head}{encode_basestring_ascii(key)}:{compact(value)}}}"
