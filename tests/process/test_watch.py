"""`vending watch` as a user runs it: live lines or --json, what it missed fetched,
Ctrl-C ends it cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tools.serverproc import ANY_PORT, free_tcp_endpoint
from transport.client import Client

PASSWORD = "correct horse battery"


def child_env() -> dict[str, str]:
    """This environment without VENDING_* variables (the defaults under test)."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("VENDING_")},
            "PYTHONUNBUFFERED": "1"}


class Watch:
    """A `vending watch` child whose stdout and stderr lines are collected as they come."""

    def __init__(self, cwd: Path, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "cli", "watch", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     cwd=cwd, env=child_env(), stdin=subprocess.DEVNULL)
        self.out: list[str] = []
        self.err: list[str] = []
        self._readers = [threading.Thread(target=self._read, args=(s, into)) for s, into in
                         ((self.proc.stdout, self.out), (self.proc.stderr, self.err))]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream: Any, into: list[str]) -> None:
        for line in stream:
            into.append(line.rstrip("\n"))

    def has(self, text: str) -> bool:
        return any(text in line for line in self.out)

    def interrupt(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(30)
        for reader in self._readers:
            reader.join(30)
        return code


def test_watch_prints_every_event_and_ends_on_ctrl_c(
        serve: Any, tmp_path: Path, wait_until: Callable[..., Any]) -> None:
    server = serve(tmp_path / "data", "--events", ANY_PORT)
    events = server.events_endpoint()  # bound at port 0: read back, never raced for
    common = ("--endpoint", server.endpoint, "--events", events)
    with Client(server.endpoint, timeout=10) as sam:
        sam.register("sam", PASSWORD, "seller")   # before both: only --all shows it
        text, as_json = Watch(tmp_path, *common, "--all"), Watch(tmp_path, *common, "--json")
        try:
            for watch in (text, as_json):
                wait_until(lambda w=watch: any("following" in e for e in w.err),
                           what="watch to be ready")
            sam.sell("cola", 35, 3)
            with Client(server.endpoint, timeout=10) as ann:
                ann.register("ann", PASSWORD)
                ann.deposit(20)
            for watch in (text, as_json):
                wait_until(lambda w=watch: w.has("deposit"), what="the deposit event")
        finally:
            codes = [text.interrupt(), as_json.interrupt()]
    assert codes == [0, 0], text.err + as_json.err
    assert not any("Traceback" in line for line in text.err + as_json.err)
    assert any(line.endswith("gatekeeper#1 user role=seller user_uid=seller_sam")
               for line in text.out)
    assert any("stock-handler#1 product created p0000000001 'cola' 35 cents, 3 left "
               "(seller_sam)" in line for line in text.out)
    assert any(line.endswith("gatekeeper#3 deposit amount=20") for line in text.out)
    parsed = [json.loads(line) for line in as_json.out]
    assert [(e["topic"], e["source"], e["seq"]) for e in parsed] == [
        ("product", "stock-handler", 1), ("user", "gatekeeper", 2),
        ("deposit", "gatekeeper", 3)]
    assert all({"topic", "source", "seq", "at"} <= set(e) for e in parsed)


def test_watch_says_so_once_within_its_timeout_when_no_server_answers(
        tmp_path: Path) -> None:
    nobody = free_tcp_endpoint()
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "cli", "watch", "--endpoint", nobody,
         "--events", free_tcp_endpoint()], capture_output=True, text=True, timeout=90,
        cwd=tmp_path, env=child_env(), stdin=subprocess.DEVNULL)
    took = time.monotonic() - started
    assert proc.returncode == 1 and proc.stdout == ""
    # One line, as every client command says it (it used to be 3 lines after 21 s).
    assert proc.stderr.splitlines() == [
        f"error: no reply from {nobody} within 5 s: is the server running? Start it with "
        "`vending serve` (or give --endpoint)."]
    assert took < 10, took  # 5 s (--timeout) plus the interpreter's start


def test_watch_all_merges_both_sources_backlogs_by_time(
        serve: Any, tmp_path: Path, wait_until: Callable[..., Any]) -> None:
    server = serve(tmp_path / "data", "--events", ANY_PORT)
    events = server.events_endpoint()
    with Client(server.endpoint, timeout=10) as sam, Client(server.endpoint, timeout=10) as ann:
        sam.register("sam", PASSWORD, "seller")    # gatekeeper 1
        sam.sell("cola", 35, 3)                    # stock-handler 1
        ann.register("ann", PASSWORD)              # gatekeeper 2
        ann.deposit(20)                            # gatekeeper 3
        sam.sell("tea", 10, 1)                     # stock-handler 2
        ann.deposit(5)                             # gatekeeper 4
    watch = Watch(tmp_path, "--endpoint", server.endpoint, "--events", events, "--all",
                  "--json")
    try:
        wait_until(lambda: len(watch.out) >= 6, what="the six stored events")
    finally:
        assert watch.interrupt() == 0, watch.err
    parsed = [json.loads(line) for line in watch.out]
    assert [(e["source"], e["seq"]) for e in parsed] == [
        ("gatekeeper", 1), ("stock-handler", 1), ("gatekeeper", 2), ("gatekeeper", 3),
        ("stock-handler", 2), ("gatekeeper", 4)]
    assert [e["at"] for e in parsed] == sorted(e["at"] for e in parsed)
