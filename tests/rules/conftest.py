"""Fixtures for the pure-rule tests (tier 1: no sockets, no actors)."""

from __future__ import annotations

from typing import Any

import pytest

from rules_world import World


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def shop() -> tuple[World, dict[str, Any], dict[str, Any]]:
    """A world with one buyer (`ann`) and one seller (`sam`), both logged in."""
    w = World()
    return w, w.register("buyer", "ann"), w.register("seller", "sam")
