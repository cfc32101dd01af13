"""Run the conformance tests against a split deployment.

Here `system` is not an in-process VendingSystem but four processes (gatekeeper,
stock handler, two front doors) joined by tcp fifos; its clients alternate between
the two front doors, so every multi-client test also crosses front doors.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import count
from pathlib import Path
from typing import Any

import pytest

from tools.split import SplitDeployment
from transport.client import Client


class SplitSystem:
    """The part of VendingSystem's face the conformance tests use: clients and endpoints."""

    def __init__(self, deployment: SplitDeployment) -> None:
        self.deployment = deployment
        self.endpoints = deployment.endpoints
        self._next = count()
        self._clients: list[Client] = []

    def client(self, **kwargs: Any) -> Client:
        endpoint = self.endpoints[next(self._next) % len(self.endpoints)]
        kwargs.setdefault("timeout", 5.0)  # as VendingSystem.client: patient, not interactive
        kwargs.setdefault("retries", 3)
        client = Client(endpoint, **kwargs)
        self._clients.append(client)
        return client

    def close(self) -> None:
        for client in self._clients:
            client.close()


@pytest.fixture
def system(tmp_path: Path) -> Iterator[SplitSystem]:
    deployment = SplitDeployment(tmp_path, front_doors=2)
    facade = SplitSystem(deployment.start())
    try:
        yield facade
    finally:
        facade.close()
        deployment.kill_all()
