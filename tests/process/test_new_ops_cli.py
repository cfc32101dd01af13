"""The new ops from the command line, against a real `vending serve`, across a
restart: `vending passwd`, `vending history`, `vending health` (its exit code is
a container health check) and `vending products --name/--limit/--after`."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conftest import PASSWORD, child_env

from tools.serverproc import ServerProcess, free_tcp_endpoint

NEW = "a brand new password"


def piped(tmp_path: Path, *args: str, stdin: str = "",
          **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli", *args], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path, env=child_env(**env), input=stdin)


def test_passwd_history_products_and_health_across_a_restart(
        serve: Callable[..., ServerProcess], cli: Any, cli_json: Any, tmp_path: Path) -> None:
    served = serve(tmp_path / "data")
    seller = ["--endpoint", served.endpoint, "--session-file", str(tmp_path / "seller.json")]
    buyer = ["--endpoint", served.endpoint, "--session-file", str(tmp_path / "buyer.json")]
    other = ["--endpoint", served.endpoint, "--session-file", str(tmp_path / "other.json")]
    cli_json("register", "sam", "--seller", "--password", PASSWORD, *seller)
    uids = [cli_json("sell", "--name", name, "--cost", "35", "--amount", "5", *seller)
            ["product"]["product_uid"] for name in ("Coca-Cola", "Tea", "cola zero")]
    cli_json("register", "ann", "--password", PASSWORD, *buyer)
    cli_json("login", "ann", "--password", PASSWORD, *other)
    cli_json("deposit", "50", *buyer)
    cli_json("buy", uids[0], "1", *buyer)

    page = cli("products", "--name", "COLA", "--limit", "1", *buyer)
    assert page.returncode == 0, page.stderr
    assert uids[0] in page.stdout and uids[2] not in page.stdout
    assert f"More: --after {uids[0]}" in page.stdout
    rest = cli_json("products", "--name", "cola", "--limit", "1", "--after", uids[0], *buyer)
    assert [p["product_uid"] for p in rest["products"]] == [uids[2]] and rest["more"] is False

    history = cli("history", *buyer)
    assert history.returncode == 0, history.stderr
    lines = history.stdout.splitlines()
    assert "bought 1 x Coca-Cola" in lines[0] and "change 10 5" in lines[0]
    assert "deposit 50 cents" in lines[1]
    assert "sold 1 x Coca-Cola" in cli("history", *seller).stdout

    # Current and new password piped on stdin, one a line, as `login` reads one.
    changed = piped(tmp_path, "passwd", *buyer, stdin=f"{PASSWORD}\n{NEW}\n")
    assert changed.returncode == 0, changed.stderr
    assert changed.stdout.strip() == "Password changed; 1 other session(s) ended."
    ended = cli("profile", *other)
    assert ended.returncode == 1 and "UNAUTHORIZED" in ended.stderr

    health = cli("health", *buyer)
    assert health.returncode == 0, health.stdout + health.stderr
    assert health.stdout.startswith("status: ok\n")
    assert "gatekeeper: up, storage ok" in health.stdout

    assert served.terminate() == 0
    again = serve(tmp_path / "data", endpoint=served.endpoint)
    assert again.endpoint == served.endpoint
    after = cli_json("history", "--limit", "1", *buyer)
    assert after["more"] is True and after["entries"][0]["kind"] == "purchase"
    older = cli_json("history", "--before", str(after["entries"][0]["id"]), *buyer)
    assert [e["kind"] for e in older["entries"]] == ["deposit"]
    wrong = cli("login", "ann", "--password", PASSWORD, *other)
    assert wrong.returncode == 1 and "INVALID_CREDENTIALS" in wrong.stderr
    assert cli_json("login", "ann", *other, "--password", NEW)["user_uid"] == "buyer_ann"
    assert "Traceback" not in wrong.stderr + ended.stderr


def test_passwd_refuses_a_wrong_current_password(serve: Callable[..., ServerProcess],
                                                 cli_json: Any, tmp_path: Path) -> None:
    served = serve(tmp_path / "data")
    buyer = ["--endpoint", served.endpoint, "--session-file", str(tmp_path / "buyer.json")]
    cli_json("register", "ann", "--password", PASSWORD, *buyer)
    refused = piped(tmp_path, "passwd", "--password", "not the password", *buyer,
                    VENDING_NEW_PASSWORD=NEW)
    assert refused.returncode == 1
    assert "INVALID_CREDENTIALS" in refused.stderr
    short = piped(tmp_path, "passwd", "--password", PASSWORD, "--new-password", "short", *buyer)
    assert short.returncode == 1 and "new_password" in short.stderr
    missing = piped(tmp_path, "passwd", "--password", PASSWORD, *buyer)
    assert missing.returncode == 1
    assert "no new password given: use --new-password" in missing.stderr


def test_health_exits_non_zero_when_degraded(serve: Callable[..., ServerProcess],
                                             tmp_path: Path, wait_until: Any) -> None:
    """A front door alone (split layout): its gatekeeper and stock handler never answer."""
    fifos = [free_tcp_endpoint() for _ in range(4)]
    served = serve(tmp_path / "none", "--role", "frontdoor", "--auth-fifo", fifos[0],
                   "--deposit-fifo", fifos[1], "--post-fifo", fifos[2],
                   "--status-fifo", fifos[3])

    def degraded() -> subprocess.CompletedProcess[str] | None:
        done = piped(tmp_path, "health", "--json", "--endpoint", served.endpoint)
        return done if done.returncode != 0 else None

    done = wait_until(degraded, timeout=20, interval=0.2, what="health to exit non-zero")
    assert done.returncode == 1
    reply = json.loads(done.stdout)
    assert reply["status"] == "degraded"
    assert reply["parts"]["gatekeeper"]["up"] is False


def test_health_with_no_server_fails_fast(tmp_path: Path) -> None:
    done = piped(tmp_path, "health", "--endpoint", free_tcp_endpoint(), "--timeout", "1")
    assert done.returncode == 1 and "no reply" in done.stderr
