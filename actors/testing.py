"""pytest fixtures for programs that embed the vending system.

Use with `pytest_plugins = ["actors.testing"]` in a conftest.py:

    def test_buy(vending_system, vending_client): ...
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from transport.client import Client

from .system import VendingSystem


@pytest.fixture
def vending_system() -> Iterator[VendingSystem]:
    """A running in-memory system, no TCP port; stopped after the test."""
    with VendingSystem(data_dir=":memory:", binds=()) as system:
        yield system


@pytest.fixture
def vending_client(vending_system: VendingSystem) -> Client:
    """An inproc client of `vending_system` (closed when the system stops)."""
    return vending_system.client(timeout=5.0)
