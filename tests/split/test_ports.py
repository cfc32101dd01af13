"""Ports of the launched servers: bound at 0 and read back, or retried when taken.

(issue 21: picking a free port, freeing it and binding later races with
anything else on the machine.)
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tools.serverproc import ServerProcess
from tools.split import SplitDeployment
from tools.zmtp import parse_tcp
from transport.client import Client


def test_a_server_binds_port_0_and_reports_the_port(tmp_path: Path) -> None:
    server = ServerProcess(":memory:", cwd=tmp_path)
    assert server.endpoint.endswith(":0")
    try:
        server.start()
        assert parse_tcp(server.endpoint)[1] > 0
        with Client(server.endpoint, timeout=10) as client:
            assert client.ping()
    finally:
        server.kill()


def test_a_split_start_survives_a_fifo_port_taken_meanwhile(tmp_path: Path) -> None:
    deployment = SplitDeployment(tmp_path, front_doors=1)
    extra = deployment.procs["gatekeeper"].extra
    taken = extra[extra.index("--auth-fifo") + 1]
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", parse_tcp(taken)[1]))
        squatter.listen()
        try:
            deployment.start()
            extra = deployment.procs["gatekeeper"].extra
            assert extra[extra.index("--auth-fifo") + 1] != taken  # started on fresh ports
            with Client(deployment.endpoint, timeout=10) as ann:
                ann.register("ann", "correct horse battery")
                assert ann.deposit(5) == 5
        finally:
            deployment.kill_all()


def test_the_fifo_ports_of_one_layout_are_distinct_even_when_draws_repeat(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Each draw is free when made but bound only at launch: two equal draws named one
    # port for two fifos, and both roles' binds failed on every retry.
    import tools.serverproc as serverproc
    low = serverproc._ephemeral_low()
    first = max(1024, low - 12_000)
    repeats = iter([first + 7, first + 7, first + 7, first + 9, first + 9, first + 11,
                    first + 13, first + 15, first + 17])
    monkeypatch.setattr(serverproc.random, "randrange", lambda a, b: next(repeats))
    monkeypatch.setattr(serverproc, "_HANDED", set(), raising=False)
    deployment = SplitDeployment(tmp_path, front_doors=1)
    named = {arg for proc in deployment.procs.values()
             for option, arg in zip(proc.extra, proc.extra[1:], strict=False)
             if option in ("--auth-fifo", "--deposit-fifo", "--post-fifo", "--status-fifo")}
    assert len(named) == 4
