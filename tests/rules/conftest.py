"""Fixtures for the pure-rule tests (tier 1: no sockets, no actors)."""

from __future__ import annotations

import pytest
from rules_world import Shop, World


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def shop() -> Shop:
    """A world with one buyer (`ann`) and one seller (`sam`), both logged in."""
    w = World()
    return w, w.register("buyer", "ann"), w.register("seller", "sam")
