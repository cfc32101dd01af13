"""Pykka actors and the wiring that starts and stops them.

`VendingSystem` is loaded on first use, so `actors.config` alone (read by the
`vending` command's parser) loads no pykka.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from .config import Config, Endpoints

if TYPE_CHECKING:
    from .system import VendingSystem

__all__ = ["Config", "Endpoints", "VendingSystem"]

# A library leaves its log lines to the program: the CLI configures them
# (cli/logsetup.py), an embedding program as it likes.
logging.getLogger(__name__).addHandler(logging.NullHandler())


def __getattr__(name: str) -> Any:
    if name == "VendingSystem":
        from .system import VendingSystem
        return VendingSystem
    raise AttributeError(f"module 'actors' has no attribute {name!r}")
