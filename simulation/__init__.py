"""Deterministic simulation: the real actors, rules and storage on one thread,
with a simulated loop, clock, fifos, disk and clients, and faults from a seed.

`vending simulate --seed N` is its command line; `Simulation` its Python API
(docs/simulation.md).
"""

from .api import Result, Simulation

__all__ = ["Result", "Simulation"]
