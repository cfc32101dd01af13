"""Fixtures for the pure-rule tests (tier 1: no sockets, no actors)."""

from __future__ import annotations

import os

import pytest
from rules_world import Shop, World

from vending import credentials

if os.environ.get("VENDING_CHEAP_ARGON2") == "1":
    # Set by tools/mutation.py only. No rule here depends on argon2's cost, and at full
    # cost (~30 ms a hash, dozens per throttle test) each mutant takes ten times longer.
    credentials._TIME_COST, credentials._MEMORY_KIB = 1, 64
    credentials._hasher.cache_clear()  # made again, at that cost, on first use
    credentials._dummy_hash.cache_clear()


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def shop() -> Shop:
    """A world with one buyer (`ann`) and one seller (`sam`), both logged in."""
    w = World()
    return w, w.register("buyer", "ann"), w.register("seller", "sam")
