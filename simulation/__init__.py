"""Deterministic simulation: the real actors, rules and storage on one thread,
with a simulated loop, clock, fifos, disk and clients, and faults from a seed.

`vending simulate --seed N` is its command line; `Simulation` its Python API
(docs/simulation.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .api import Result, Simulation

__all__ = ["Result", "Simulation"]


def __getattr__(name: str) -> Any:
    # Lazily: `vending --help` imports simulation.cli and must load no server module.
    if name in __all__:
        from . import api
        return getattr(api, name)
    raise AttributeError(name)
