"""The split layout publishes events from both backends: each role binds its own
PUB at its own --events endpoint, and one subscriber follows both."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tools.split import SplitDeployment
from transport.client import Client
from transport.events import EventStream

PASSWORD = "correct horse battery"


@pytest.fixture
def split(tmp_path: Path) -> Iterator[SplitDeployment]:
    deployment = SplitDeployment(tmp_path, front_doors=1, events=True)
    try:
        yield deployment.start()
    finally:
        deployment.kill_all()


def test_one_subscriber_follows_both_backends(split: SplitDeployment) -> None:
    with EventStream(list(split.events_endpoints.values()), split.endpoint) as stream, \
            Client(split.endpoint, timeout=10) as sam, Client(split.endpoint, timeout=10) as ann:
        sam.register("sam", PASSWORD, "seller")
        cola = sam.sell("cola", 35, 3)["product_uid"]
        ann.register("ann", PASSWORD)
        ann.deposit(50)
        ann.buy(cola, 1)
        got = [stream.get(timeout=10) for _ in range(6)]
    assert [(e.source, e.seq, e.topic) for e in got if e.source == "gatekeeper"] == [
        ("gatekeeper", 1, "user"), ("gatekeeper", 2, "user"), ("gatekeeper", 3, "deposit"),
        ("gatekeeper", 4, "purchase")]
    assert [(e.seq, e.body["kind"]) for e in got if e.source == "stock-handler"] == [
        (1, "created"), (2, "sold")]
