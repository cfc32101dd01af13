"""The frictions a new user met (issue 22, "Frictions to remove"), each run as that
user runs the command: `python -m cli ...` against a real `vending serve`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from cli.output import width
from tools.serverproc import ServerProcess

PASSWORD = "correct horse battery"
ROOT = Path(__file__).resolve().parents[2]
Cli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    """`python -m cli ...` in tmp_path, the session kept in tmp_path (VENDING_SESSION)."""
    def run(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "cli", *args], capture_output=True,
                              text=True, timeout=timeout, cwd=tmp_path, stdin=subprocess.DEVNULL,
                              env=env)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VENDING_")}
    env["VENDING_SESSION"] = str(tmp_path / "session.json")
    return run


@pytest.fixture
def served(serve: Callable[..., ServerProcess], tmp_path: Path) -> ServerProcess:
    return serve(tmp_path / "data")


def error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_options_may_come_before_the_command(cli: Cli, served: ServerProcess) -> None:
    ep = served.endpoint
    done = cli("--endpoint", ep, "--session-file", "sam.json", "register", "sam", "--seller",
               "--password", PASSWORD)
    assert done.returncode == 0, done.stderr
    assert cli("--endpoint", ep, "--session-file", "sam.json", "sell", "--name", "tea",
               "--cost", "10", "--amount", "1").returncode == 0
    done = cli(f"--endpoint={ep}", "--json", "products")
    assert done.returncode == 0, done.stderr
    assert [p["product_name"] for p in json.loads(done.stdout)["products"]] == ["tea"]
    # Both places at once: the one after the command is the command's own.
    done = cli("--endpoint", "tcp://127.0.0.1:1", "ping", "--endpoint", ep)
    assert done.returncode == 0 and "is up" in done.stdout


def test_an_option_the_command_does_not_take_is_refused_by_it(cli: Cli) -> None:
    done = cli("--endpoint", "tcp://127.0.0.1:1", "keygen", "keys")
    assert done.returncode == 2 and "unrecognized arguments: --endpoint" in done.stderr


def test_a_seller_logging_in_as_a_buyer_is_told_about_seller(cli: Cli,
                                                             served: ServerProcess) -> None:
    ep = ["--endpoint", served.endpoint]
    assert cli("register", "sam", "--seller", "--password", PASSWORD, *ep).returncode == 0
    line = error_line(cli("login", "sam", "--password", PASSWORD, *ep))
    assert line.startswith("error: INVALID_CREDENTIALS: ")
    assert line.endswith(" (--seller for a seller)")
    assert cli("login", "sam", "--seller", "--password", PASSWORD, *ep).returncode == 0
    line = error_line(cli("login", "sam", "--seller", "--password", "not it at all", *ep))
    assert "--seller" not in line  # said --seller already: the hint would mislead


def test_a_too_short_password_at_login_is_a_wrong_password(cli: Cli,
                                                           served: ServerProcess) -> None:
    ep = ["--endpoint", served.endpoint]
    assert cli("register", "ann", "--password", PASSWORD, *ep).returncode == 0
    short = error_line(cli("login", "ann", "--password", "short", *ep))
    wrong = error_line(cli("login", "ann", "--password", "long but wrong", *ep))
    assert short == wrong  # the rule is not given away as a hint
    assert short.startswith("error: INVALID_CREDENTIALS")
    # Registering says why: a new user has to know the rule.
    line = error_line(cli("register", "bob", "--password", "short", *ep))
    assert line.startswith("error: BAD_REQUEST") and "password" in line


def test_errors_name_options_not_wire_fields(cli: Cli, served: ServerProcess) -> None:
    ep = ["--endpoint", served.endpoint]
    assert error_line(cli("profile", *ep)) == (
        "error: not logged in: log in with `vending login USERNAME` (--seller for a seller)")
    assert cli("register", "sam", "--seller", "--password", PASSWORD, *ep).returncode == 0
    line = error_line(cli("sell", "--name", "tea", "--amount", "3", *ep))
    assert line.startswith("error: --cost is missing") and "cost is" not in line[15:]
    line = error_line(cli("sell", "--amount", "3", *ep))
    assert line.startswith("error: --name and --cost are missing")
    assert "wsess_uid" not in error_line(cli("logout", "--session-file", "none.json", *ep))


def test_products_by_seller_and_the_old_spelling(cli: Cli, served: ServerProcess) -> None:
    ep = ["--endpoint", served.endpoint]
    for name in ("sam", "sue"):
        assert cli("register", name, "--seller", "--password", PASSWORD, *ep,
                   "--session-file", f"{name}.json").returncode == 0
        assert cli("sell", "--name", f"{name}'s tea", "--cost", "10", "--amount", "1", *ep,
                   "--session-file", f"{name}.json").returncode == 0
    done = cli("products", "--by", "seller_sue", *ep)
    assert done.returncode == 0 and done.stdout.count("\n") == 1 and "sue's tea" in done.stdout
    old = cli("products", "--seller", "seller_sue", *ep)
    assert old.stdout == done.stdout
    assert old.stderr == "note: `products --seller UID` is now `products --by UID`\n"


def test_wide_characters_keep_the_table_columns_and_json_keeps_them(
        cli: Cli, served: ServerProcess) -> None:
    ep = ["--endpoint", served.endpoint]
    assert cli("register", "sam", "--seller", "--password", PASSWORD, *ep).returncode == 0
    for name in ("cola", "\U0001F964 cola", "\u7eff\u8336 tea", "cafe\u0301"):
        assert cli("sell", "--name", name, "--cost", "35", "--amount", "1", *ep).returncode == 0
    lines = cli("products", *ep).stdout.splitlines()
    assert len(lines) == 4
    ends = {width(line.split(" cents")[0]) for line in lines}
    assert len(ends) == 1, lines  # "35 cents" in the same terminal column on every row
    done = cli("products", "--json", *ep)
    assert "\U0001F964 cola" in done.stdout and "\\ud83e" not in done.stdout
    assert json.loads(done.stdout)["products"][1]["product_name"] == "\U0001F964 cola"


def test_fuzz_without_an_endpoint_runs_its_own_server(cli: Cli) -> None:
    done = cli("fuzz", "--frames", "200", timeout=120)
    assert done.returncode == 0, done.stderr
    assert "against an in-memory server on tcp://127.0.0.1:" in done.stderr
    assert "tcp://127.0.0.1:5555" not in done.stderr + done.stdout


def test_bench_says_what_it_will_do_then_shows_progress(cli: Cli) -> None:
    done = cli("bench", "--clients", "2", "--seconds", "0.5", "--no-baseline", timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert lines[0].startswith("vending bench: 1 timed window(s) of 0.5 s (system), 2 clients")
    assert "about " in lines[0] and "Progress on stderr" in lines[0]
    assert lines[1] == "system: starting the server and 2 clients, then 0.5 s of load"
    assert len(lines) >= 3 and "purchases/s" in done.stdout


def test_mutation_without_mutmut_is_one_line_and_fails() -> None:
    # -S: no site-packages, so no mutmut, as on a machine without the dev extras.
    done = subprocess.run([sys.executable, "-S", "-m", "tools.mutation"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and done.stdout == ""
    assert done.stderr.splitlines() == [
        "error: mutmut is not installed here: pip install -e '.[dev]' (README, Development)"]


def test_an_option_before_no_command_says_the_command_is_missing(cli: Cli) -> None:
    done = cli("--endpoint", "tcp://127.0.0.1:5555")
    assert done.returncode == 2
    assert "required: COMMAND" in done.stderr and "invalid choice" not in done.stderr
