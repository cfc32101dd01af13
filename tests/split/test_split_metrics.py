"""`--metrics` in the split layout: each process serves its own numbers, the front
door its requests and the roles' liveness, each backend its storage and events."""

from __future__ import annotations

import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tools.serverproc import free_tcp_endpoint
from tools.split import SplitDeployment
from transport.client import Client


def names_and_samples(where: str) -> tuple[set[str], dict[tuple[str, str], float]]:
    with urllib.request.urlopen(f"http://{where}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    families = list(text_string_to_metric_families(text))
    samples = {(s.name, ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))): s.value
               for family in families for s in family.samples}
    return {family.name for family in families}, samples


def test_each_process_serves_its_own_metrics(tmp_path: Path) -> None:
    split = SplitDeployment(tmp_path, front_doors=1)
    where = {role: free_tcp_endpoint().removeprefix("tcp://") for role in split.procs}
    for role, proc in split.procs.items():
        proc.extra += ["--metrics", where[role]]
    split.start()
    try:
        with Client(split.endpoint, timeout=10) as ann:
            ann.register("ann", "correct horse battery")
            ann.deposit(10)
        door_names, door = names_and_samples(where["frontdoor-1"])
        assert door[("vending_requests_total", "code=OK,op=deposit")] == 1
        assert door[("vending_role_up", "role=gatekeeper")] == 1
        assert door[("vending_role_up", "role=stock-handler")] == 1
        assert "vending_storage_ok" not in door_names  # no database in a front door
        gk_names, gatekeeper = names_and_samples(where["gatekeeper"])
        assert gatekeeper[("vending_storage_ok", "role=gatekeeper")] == 1
        assert ("vending_storage_ok", "role=stock-handler") not in gatekeeper
        assert "vending_requests" not in gk_names  # no front door here
        _, stock = names_and_samples(where["stock-handler"])
        assert stock[("vending_storage_ok", "role=stock-handler")] == 1
        assert stock[("vending_actor_restarts_total", "role=stock-handler")] == 0
    finally:
        split.terminate()
