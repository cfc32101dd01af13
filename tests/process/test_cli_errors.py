"""The client commands fail with one line and a hint, never a traceback."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tools.serverproc import ServerProcess, free_tcp_endpoint

PASSWORD = "correct horse battery"


def vending(*args: str, stdin: str | None = None, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VENDING_")}
    return subprocess.run([sys.executable, "-m", "cli", *args], input=stdin or "",
                          capture_output=True, text=True, timeout=60, cwd=cwd, env=env)


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode != 0
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_no_server_fails_fast_naming_the_endpoint(tmp_path: Path) -> None:
    nobody = free_tcp_endpoint()
    started = time.monotonic()
    done = vending("ping", "--endpoint", nobody, cwd=tmp_path)
    took = time.monotonic() - started
    line = one_error_line(done)
    assert nobody in line and "vending serve" in line and "5 s" in line
    # 5 s of waiting plus the interpreter's start; the old default waited 22 s.
    assert took < 10, took


@pytest.fixture
def registered(serve: Callable[..., ServerProcess], tmp_path: Path) -> list[str]:
    """buyer_ann registered on a fresh server: the options that reach her session."""
    served = serve(tmp_path / "data")
    common = ["--endpoint", served.endpoint, "--session-file", str(tmp_path / "s.json")]
    done = vending("register", "ann", "--password", PASSWORD, *common, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return common


def test_unauthorized_suggests_logging_in(registered: list[str], tmp_path: Path) -> None:
    common = registered
    kept = (tmp_path / "s.json").read_text()
    assert vending("logout", *common, cwd=tmp_path).returncode == 0
    line = one_error_line(vending("profile", *common, cwd=tmp_path))
    # No session kept: said in the CLI's words, not the wire's (wsess_uid is missing).
    assert line == ("error: not logged in: log in with `vending login USERNAME` "
                    "(--seller for a seller)")
    (tmp_path / "s.json").write_text(kept)  # a session the server has ended
    line = one_error_line(vending("profile", *common, cwd=tmp_path))
    assert "UNAUTHORIZED" in line and "vending login" in line


def test_login_without_a_password_or_terminal_says_so(tmp_path: Path) -> None:
    done = vending("login", "ann", "--endpoint", free_tcp_endpoint(), cwd=tmp_path)
    line = one_error_line(done)
    assert "password" in line and "--password" in line


def test_a_piped_password_is_read_from_stdin(serve: Callable[..., ServerProcess],
                                             tmp_path: Path) -> None:
    served = serve(tmp_path / "data")
    done = vending("register", "ann", "--endpoint", served.endpoint, "--session-file",
                   str(tmp_path / "s.json"), stdin=PASSWORD + "\n", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "buyer_ann" in done.stdout


def test_ctrl_c_at_the_password_prompt(tmp_path: Path) -> None:
    pid, fd = pty.fork()
    if pid == 0:  # the child: a terminal of its own, as a user at a shell has
        os.chdir(tmp_path)
        # Ctrl-C interrupts, as at a shell, also when the tests were started with
        # SIGINT ignored (a background job), which exec would hand on.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.execv(sys.executable, [sys.executable, "-m", "cli", "login", "ann",
                                  "--endpoint", free_tcp_endpoint()])
    output = b""
    try:
        output += _read_until(fd, b"Password:")
        os.write(fd, b"\x03")  # what the terminal sends for Ctrl-C
        output += _read_until(fd, None)
    except BaseException:
        os.kill(pid, signal.SIGKILL)  # the test fails; it never waits for ever on the child
        raise
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    text = output.decode(errors="replace")
    assert "Traceback" not in text, text
    assert os.waitstatus_to_exitcode(status) != 0
    assert "interrupted" in text


def _read_until(fd: int, marker: bytes | None, timeout: float = 30.0) -> bytes:
    """Read the terminal until `marker` shows up (None: until the child closes it)."""
    out = b""
    deadline = time.monotonic() + timeout
    while marker is None or marker not in out:
        left = deadline - time.monotonic()
        assert left > 0, f"timed out; terminal showed {out!r}"
        if not select.select([fd], [], [], left)[0]:
            continue
        try:
            chunk = os.read(fd, 1024)
        except OSError:  # EIO: the child has exited and closed the terminal
            chunk = b""
        if not chunk:
            assert marker is None, f"closed before {marker!r}: {out!r}"
            return out
        out += chunk
    return out


def test_logging_in_again_ends_the_replaced_session(registered: list[str],
                                                    tmp_path: Path) -> None:
    common = registered
    for _ in range(3):
        again = vending("login", "ann", "--password", PASSWORD, *common, cwd=tmp_path)
        assert again.returncode == 0, again.stderr
        assert "Note:" not in again.stdout, again.stdout
    profile: Any = json.loads(vending("profile", "--json", *common, cwd=tmp_path).stdout)
    assert profile["active_sessions"] == 0


def test_an_unexpected_failure_is_one_line_and_debuggable(monkeypatch: Any,
                                                         capsys: Any) -> None:
    """The last resort: a bug in a command prints one line, never a traceback, unless
    VENDING_DEBUG asks for it."""
    from cli import main as cli_main

    def broken(args: Any) -> int:
        raise LookupError("no such thing")

    monkeypatch.setattr(cli_main.client_commands, "run", broken)
    monkeypatch.delenv("VENDING_DEBUG", raising=False)
    assert cli_main.main(["ping"]) == 70
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "LookupError: no such thing" in err and "VENDING_DEBUG=1" in err
    monkeypatch.setenv("VENDING_DEBUG", "1")
    with pytest.raises(LookupError):
        cli_main.main(["ping"])
