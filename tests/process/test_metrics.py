"""`vending serve --metrics HOST:PORT` and `--log-format json`, run as an operator
would: scrape the Prometheus text over HTTP, read the log lines as JSON."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tools.serverproc import ServerProcess, free_tcp_endpoint
from transport.client import Client
from vending.errors import InvalidCredentials

PASSWORD = "correct horse battery"


def free_host_port() -> str:
    return free_tcp_endpoint().removeprefix("tcp://")


def scrape(where: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample at http://WHERE/metrics: (name, sorted labels) -> value."""
    with urllib.request.urlopen(f"http://{where}/metrics", timeout=10) as answer:
        assert answer.headers["Content-Type"].startswith("text/plain")
        text = answer.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_count_requests_by_op_and_code_and_show_the_parts(
        serve: Callable[..., ServerProcess], tmp_path: Path) -> None:
    where = free_host_port()
    served = serve(tmp_path / "data", "--metrics", where)
    served.wait_for_line(lambda line: f"metrics on http://{where}/metrics" in line)
    with Client(served.endpoint, timeout=10) as ann:
        ann.register("ann", PASSWORD)
        ann.deposit(20)
        ann.deposit(5)
        ann.logout()
        with pytest.raises(InvalidCredentials):
            ann.login("ann", "wrong password!")
        assert ann.request({"op": "deposit"})["error"] == "BAD_REQUEST"
    m = scrape(where)
    assert m[("vending_requests_total", (("code", "OK"), ("op", "deposit")))] == 2
    assert m[("vending_requests_total", (("code", "INVALID_CREDENTIALS"), ("op", "auth")))] == 1
    assert m[("vending_requests_total", (("code", "BAD_REQUEST"), ("op", "invalid")))] == 1
    assert m[("vending_request_duration_seconds_count", (("op", "deposit"),))] == 2
    assert m[("vending_request_duration_seconds_bucket", (("le", "+Inf"), ("op", "auth")))] == 2
    assert m[("vending_request_duration_seconds_sum", (("op", "deposit"),))] > 0
    assert m[("vending_throttle_refusals_total", ())] == 0
    for role in ("gatekeeper", "stock-handler"):
        assert m[("vending_storage_ok", (("role", role),))] == 1
        assert m[("vending_role_up", (("role", role),))] == 1
        assert m[("vending_actor_restarts_total", (("role", role),))] == 0
        assert m[("vending_fifo_refused_total", (("role", role),))] == 0
        assert m[("vending_fifo_dropped_total", (("reason", "stale"), ("role", role)))] == 0
    assert m[("vending_fifo_refused_total", (("role", "frontdoor"),))] == 0
    # registered, deposit, deposit: the gatekeeper's events so far.
    assert m[("vending_events_last_seq", (("source", "gatekeeper"),))] == 3
    assert m[("vending_events_last_seq", (("source", "stock-handler"),))] == 0
    assert m[("vending_frontdoor_received_total", ())] >= 6


def test_a_taken_metrics_port_is_one_line(serve: Callable[..., ServerProcess],
                                          tmp_path: Path) -> None:
    where = free_host_port()
    serve(tmp_path / "first", "--metrics", where)
    second = serve(tmp_path / "second", "--metrics", where, wait_ready=False)
    assert second.wait(30) == 1
    errors = [line for line in second.lines if "error" in line]
    assert errors == [f"vending: error: cannot serve metrics on {where}: Address already in use"]


def test_prometheus_client_is_imported_only_for_metrics() -> None:
    program = ("import sys\nfrom cli.main import build_parser\nbuild_parser()\n"
               "from actors import VendingSystem\n"
               "with VendingSystem(data_dir=':memory:', binds=()) as s: s.client().ping()\n"
               "print('prometheus_client' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                          timeout=60)
    assert done.stdout.split() == ["False"], done.stderr


def test_json_logs_are_one_object_per_line(serve: Callable[..., ServerProcess],
                                           tmp_path: Path) -> None:
    served = serve(tmp_path / "data", "--log-format", "json")
    ready = json.loads(served.ready_line())
    assert set(ready) >= {"ts", "level", "logger", "message"}
    assert ready["level"] == "INFO" and ready["logger"] == "vending"
    assert ready["message"].startswith("ready on ") and ready["ts"].endswith("Z")
    assert ready["endpoints"][0] == served.endpoint and ready["role"] == "all"
    assert served.proc is not None and ready["pid"] == served.proc.pid
    served.terminate()
    for line in served.lines:
        assert isinstance(json.loads(line), dict), line  # every line, the last ones too
    assert json.loads(served.lines[-1])["message"] == "stopped"


def test_the_json_formatter_keeps_extras() -> None:
    import logging

    from cli.logsetup import JsonFormatter

    record = logging.LogRecord("vending.x", logging.WARNING, __file__, 1, "%s is %d", ("a", 5),
                               None)
    record.role = "gatekeeper"
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "a is 5" and line["role"] == "gatekeeper"
    assert line["level"] == "WARNING" and line["logger"] == "vending.x"


def test_the_metrics_cost_benchmark_prints_both_figures() -> None:
    done = subprocess.run([sys.executable, "-m", "tools.metricscost", "--requests", "20",
                           "--rounds", "1", "--calls", "2000"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("added per request (FrontDoor._observed): ")
    assert [line.split(":")[0] for line in lines[1:]] == ["ping", "products"]
    assert all("metrics off" in line and "on" in line for line in lines[1:])
