"""Fixtures for tests/actors: the two backend actors, built with no thread."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from actor_harness import build

from actors import faults
from actors.gatekeeper import GatekeeperActor
from actors.stockhandler import StockHandlerActor


@pytest.fixture
def gatekeeper() -> Iterator[Any]:
    actor = build(GatekeeperActor)
    yield actor
    actor.cleanup()


@pytest.fixture
def stock_handler() -> Iterator[Any]:
    actor = build(StockHandlerActor)
    yield actor
    actor.cleanup()


@pytest.fixture
def armed() -> Iterator[list[str]]:
    """Fault points a test arms (names appended here) are disarmed after it."""
    points: list[str] = []
    yield points
    for point in points:
        faults.ACTIVE.pop(point, None)
