"""Tier 4: `vending serve` as its own process, driven from other processes.

`serve(data_dir)` starts `vending serve` (tools/serverproc.py) on a free loopback port,
returns once it has logged its ready line, and every process it started is
killed in teardown whatever the test did. `cli(...)` runs one client command.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tools.serverproc import ServerProcess

PASSWORD = "correct horse battery"


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VENDING_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """`serve(data_dir, *extra_args, endpoint=None)` -> a ready `ServerProcess`."""
    started: list[ServerProcess] = []

    def start(data_dir: Path | str, *extra: str, endpoint: str | None = None,
              wait_ready: bool = True) -> ServerProcess:
        served = ServerProcess(data_dir, endpoint, list(extra), cwd=tmp_path)
        served.launch()
        started.append(served)
        if wait_ready:
            served.ready_line()
        return served

    yield start
    for served in started:
        served.kill()


@pytest.fixture
def cli(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """`cli("deposit", "5", ...)` -> the finished `python -m cli ...` process."""
    def run(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "cli", *args],
                              capture_output=True, text=True, timeout=timeout, cwd=tmp_path,
                              env=child_env(), stdin=subprocess.DEVNULL)
    return run


@pytest.fixture
def cli_json(cli: Callable[..., subprocess.CompletedProcess[str]]) -> Callable[..., Any]:
    """`cli_json("profile", ...)` -> the reply map of a client command run with --json."""
    def run(*args: str) -> Any:
        done = cli(*args, "--json")
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        return json.loads(done.stdout)
    return run
