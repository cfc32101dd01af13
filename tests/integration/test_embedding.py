"""Embedding: the fixtures `actors.testing` offers to embedders, and the README example."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from actors.system import VendingSystem
from transport.client import Client

pytest_plugins = ["actors.testing"]


def test_the_embedding_fixtures_give_a_running_system(vending_system: VendingSystem,
                                                       vending_client: Client) -> None:
    assert vending_system.endpoints == ["inproc://front-door"]  # no TCP port at all
    vending_client.register("ann", "correct horse battery")
    assert vending_client.deposit(20) == 20


def test_the_readme_embedding_example_runs_as_written() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme[readme.index("## Embedding"):]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    printed: list[object] = []
    exec(code.group(1), {"print": printed.append})
    assert printed and printed[0]["change"] == [10, 5]  # type: ignore[index]


def test_an_embedded_system_serves_metrics_when_its_config_asks() -> None:
    with VendingSystem(data_dir=":memory:", binds=(), metrics="127.0.0.1:0") as system:
        assert system.metrics_address is not None
        host, port = system.metrics_address
        assert port > 0  # port 0 asked: the real one is given
        system.client().ping()
        with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=10) as answer:
            text = answer.read().decode()
        assert 'vending_requests_total{code="OK",op="ping"} 1.0' in text
    assert system.metrics_address is None
    with pytest.raises(urllib.error.URLError):  # stopped with the system
        urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=10)
