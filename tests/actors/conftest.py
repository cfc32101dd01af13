"""Fixtures for tests/actors: the two backend actors, built with no thread."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from actor_harness import build

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
