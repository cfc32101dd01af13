"""The version, and the `ping` op's rule (the front door answers it itself)."""

from __future__ import annotations

from typing import Any

from .outcome import Outcome, ok

__all__ = ["VERSION", "ping"]

VERSION = "0.1.0"


def ping(_state: Any, _call: Any) -> Outcome:
    return Outcome(ok(version=VERSION))
