"""JSON text as the owners store it (kept replies, event bodies, purchase replies)
and as fingerprints hash it.

One compact encoder, built once: `json.dumps` with any option builds a new
`JSONEncoder` per call, which profiled at a third of the cost of the encoding.
"""

from __future__ import annotations

import json

__all__ = ["canonical", "compact"]

#: `json.dumps(value, separators=(",", ":"))`, without the per-call encoder.
compact = json.JSONEncoder(separators=(",", ":")).encode
#: The same with keys sorted: one text per value (request fingerprints).
canonical = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode
