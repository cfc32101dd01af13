"""Fixtures for the pure-rule tests (tier 1: no sockets, no actors)."""

from __future__ import annotations

import os

import pytest
from rules_world import Shop, World

from vending import credentials

if os.environ.get("VENDING_CHEAP_ARGON2") == "1":
    # Set by tools/mutation.py only. No rule here depends on argon2's cost, and at full
    # cost (~30 ms a hash, dozens per throttle test) each mutant takes ten times longer.
    # A `Gate` built without credentials takes `credentials.SYSTEM` as it is then.
    credentials.SYSTEM = credentials.Credentials(cost=credentials.Argon2Cost(1, 64))


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def shop() -> Shop:
    """A world with one buyer (`ann`) and one seller (`sam`), both logged in."""
    w = World()
    return w, w.register("buyer", "ann"), w.register("seller", "sam")
