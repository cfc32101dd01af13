"""`vending --help` and the client commands start without the server's weight: no
argon2, no pykka, no SQLite (docs/design.md, "Start-up cost").

Checked on what a fresh interpreter has imported, not on a timing."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest

#: Modules only the server needs: password hashing, actors, storage.
HEAVY = ("argon2", "pykka", "sqlite3", "actors.system", "vending.gate", "vending.db")

_PROBE = """
import contextlib, io, json, sys
from cli.main import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    try:
        main(sys.argv[1:])
    except SystemExit:
        pass
print(json.dumps(sorted(sys.modules)))
"""


def _loaded(*argv: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", _PROBE, *argv], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    return set(json.loads(out.splitlines()[-1]))


def _heavy(loaded: set[str]) -> list[str]:
    return sorted(m for m in loaded if any(m == h or m.startswith(h + ".") for h in HEAVY))


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("argv", [["--help"], ["serve", "--help"], ["bench", "--help"],
                                  ["buy", "--help"]])
def test_help_loads_no_server_modules(argv: list[str]) -> None:
    loaded = _loaded(*argv)
    assert "cli.main" in loaded  # the probe did run the command
    assert _heavy(loaded) == []


def test_a_client_command_loads_no_server_modules() -> None:
    endpoint = f"tcp://127.0.0.1:{_closed_port()}"
    loaded = _loaded("ping", "--endpoint", endpoint, "--timeout", "0.2")
    assert "transport.client" in loaded  # it got as far as making a client
    assert _heavy(loaded) == []


def test_the_probe_sees_heavy_modules_when_a_command_needs_them() -> None:
    """The check can fail: importing the system does load them."""
    out = subprocess.run([sys.executable, "-c", "import sys, json, actors.system, vending.gate;"
                          "print(json.dumps(sorted(sys.modules)))"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    assert {"pykka", "sqlite3", "actors.system"} <= set(json.loads(out))
