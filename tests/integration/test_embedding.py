"""Embedding: the fixtures `actors.testing` offers to embedders, and the README example."""

from __future__ import annotations

import re
from pathlib import Path

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
