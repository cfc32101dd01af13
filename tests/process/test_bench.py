"""`vending bench` end to end (short, small), and its /proc arithmetic.

These check that the bench measures and reports every figure, not how fast
anything is: timings belong to the bench's own output.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import threading
import time
from typing import Any

import pytest

from cli.main import build_parser
from tools import procstat
from tools.bench import median_figures, run_bench, summary_text

FIGURES = ("pps", "rps", "p50_ms", "p99_ms", "max_ms", "cpu_ms_per_purchase",
           "ctx_per_purchase", "server_cores", "machine_busy_pct")


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    return run_bench(clients=4, seconds=1.0, workload="buy", load_procs=2)


@pytest.mark.parametrize("target", ["system", "baseline"])
def test_each_target_reports_every_figure_from_real_purchases(
        report: dict[str, Any], target: str) -> None:
    r = report[target]
    assert isinstance(r["purchases"], int) and r["purchases"] > 0
    assert isinstance(r["requests"], int) and r["requests"] >= 2 * r["purchases"]
    assert r["errors"] == {} and r["unanswered"] == 0
    for name in FIGURES:
        value = r[name]
        assert isinstance(value, float) and math.isfinite(value) and value > 0, (name, value)
    assert r["p50_ms"] <= r["p99_ms"] <= r["max_ms"]
    assert isinstance(r["server_cpu_wait"], float) and r["server_cpu_wait"] >= 0
    assert isinstance(r["server_threads"], int) and r["server_threads"] >= 1
    assert r["server_procs"] == 1 and r["load_procs"] == 2
    for pct in (*r["gen_cpu_pct"], *r["gen_main_thread_pct"]):
        assert isinstance(pct, float) and pct > 0
    assert len(r["gen_cpu_pct"]) == 2


def test_ratios_are_system_over_baseline(report: dict[str, Any]) -> None:
    system, base, ratios = report["system"], report["baseline"], report["ratios"]
    assert ratios["purchases_per_s"] == pytest.approx(system["pps"] / base["pps"])
    assert ratios["requests_per_s"] == pytest.approx(system["rps"] / base["rps"])
    assert ratios["cpu_per_purchase"] == pytest.approx(
        system["cpu_ms_per_purchase"] / base["cpu_ms_per_purchase"])
    assert ratios["switches_per_purchase"] == pytest.approx(
        system["ctx_per_purchase"] / base["ctx_per_purchase"])


def test_summary_has_a_row_per_figure_and_the_ratios(report: dict[str, Any]) -> None:
    text = summary_text(report)
    for label in ("purchases/s", "latency p99 ms", "server CPU ms/purchase",
                  "context switches/purchase", "server threads", "generator CPU %",
                  "system/baseline"):
        assert label in text


def test_help_states_every_default() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert isinstance(sub.choices, dict)
    bench = sub.choices["bench"]
    for action in bench._actions:
        if action.option_strings and action.dest != "help":
            assert "default" in (action.help or ""), action.option_strings


def test_switches_of_threads_that_exit_are_left_out_not_subtracted() -> None:
    before = procstat.Snapshot(10, cpu_s=1.0, threads=3, switches={10: 100, 11: 50, 12: 70},
                               runqueue_ns={10: 1000, 11: 0, 12: 9000})
    after = procstat.Snapshot(10, cpu_s=1.5, threads=3, switches={10: 130, 11: 55, 13: 4},
                              runqueue_ns={10: 3000, 11: 500, 13: 500})
    d = procstat.delta(before, after)
    assert d.switches == 30 + 5 + 4  # thread 12 exited: unknown, not -70
    assert d.runqueue_wait_s == pytest.approx((2000 + 500 + 500) / 1e9)
    assert d.threads_exited == 1
    assert d.cpu_s == pytest.approx(0.5)


def test_a_snapshot_of_this_process_counts_its_threads() -> None:
    snap = procstat.snapshot(os.getpid())
    assert snap.threads == len(snap.switches) == len(snap.runqueue_ns) >= 1
    assert snap.cpu_s > 0


def test_count_sql_reports_statements_and_commits_per_purchase_of_both() -> None:
    report = run_bench(clients=2, seconds=0.5, workload="buy", count_sql=True)
    for target in ("system", "baseline"):
        r = report[target]
        assert r["purchases"] > 0
        # Every purchase writes its buyer's deposit and its kept reply, at the least.
        assert sum(n for k, n in r["sql"].items() if k.startswith(("UPDATE users",
                                                                  "INSERT users"))) > 0
        # At most one commit per durable step (deposit; reserve, charge, settle), plus
        # the housekeeping of the window: each backend's 1 s tick, counted for the
        # window and its edges (a loaded machine may fit only a few purchases in it).
        commits = sum(n for k, n in r["sql"].items() if k.startswith("COMMIT"))
        assert r["sql_per_purchase"] > 0
        assert 0 < commits <= 4 * r["purchases"] + 2 * 3
    assert "SQL statements/purchase" in summary_text(report)


def _figures(pps: float, cpu: float, purchases: int, errors: dict[str, int],
             sql: dict[str, int], gen: list[float]) -> dict[str, Any]:
    return {"target": "baseline", "pps": pps, "cpu_ms_per_purchase": cpu,
            "purchases": purchases, "errors": errors, "sql": sql, "gen_cpu_pct": gen,
            "sql_per_purchase": None}


def test_rounds_report_each_figures_median_and_sum_the_errors() -> None:
    runs = [_figures(100.0, 0.5, 10, {}, {"COMMIT": 4}, [10.0, 20.0]),
            _figures(300.0, 0.1, 30, {"X": 1}, {"COMMIT": 2, "INSERT kept": 7}, [30.0, 40.0]),
            _figures(200.0, 0.9, 21, {"X": 2, "Y": 1}, {"COMMIT": 9}, [50.0, 60.0]),
            _figures(250.0, 0.3, 20, {}, {"COMMIT": 1}, [70.0, 80.0])]
    m = median_figures(runs)
    assert m["target"] == "baseline"
    assert m["pps"] == 225.0 and m["cpu_ms_per_purchase"] == pytest.approx(0.4)
    assert m["purchases"] == 20 and isinstance(m["purchases"], int)  # a count: the lower
    assert m["errors"] == {"X": 3, "Y": 1}
    assert m["sql"] == {"COMMIT": 2, "INSERT kept": 0}
    assert m["gen_cpu_pct"] == [40.0, 50.0]
    assert m["sql_per_purchase"] is None
    assert median_figures(runs[:1]) is runs[0]


def test_summary_of_rounds_shows_every_rounds_figures_and_pair_ratios(
        report: dict[str, Any]) -> None:
    system, base = report["system"], report["baseline"]
    slower = {**system, "pps": system["pps"] / 2, "cpu_ms_per_purchase": 0.5}
    rounds = {**report, "rounds": 2, "runs": {"system": [system, slower],
                                              "baseline": [base, base]}}
    text = summary_text(rounds)
    assert "median of 2 rounds run in alternating order" in text
    by_round = next(line for line in text.splitlines() if line.startswith("  system, by"))
    assert f"{system['cpu_ms_per_purchase']:.3f} 0.500 ms CPU/purchase" in by_round
    pairs = next(line for line in text.splitlines() if "each round's pair" in line)
    assert f"{0.5 / base['cpu_ms_per_purchase']:.2f} ms CPU/purchase" in pairs
    assert "by round" not in summary_text(report)


def test_rounds_run_the_pair_in_alternating_order_and_keep_every_run() -> None:
    said: list[str] = []
    report = run_bench(clients=2, seconds=0.3, workload="buy", rounds=2, progress=said.append)
    started = [line.split(":")[0] for line in said if "starting the server" in line]
    assert started == ["system (round 1 of 2)", "baseline (round 1 of 2)",
                       "baseline (round 2 of 2)", "system (round 2 of 2)"]
    for target in ("system", "baseline"):
        runs = report["runs"][target]
        assert len(runs) == 2 and all(r["purchases"] > 0 for r in runs)
        assert report[target]["purchases"] == min(r["purchases"] for r in runs)


# Each in a process of its own: a busy thread sharing the test's GIL would wait in
# futex for the sampler and the test, more so on a loaded machine.
BLOCKED = ("import sys, threading; held = threading.Lock(); held.acquire(); "
           "print('ready', flush=True); held.acquire()")
BUSY = "print('ready', flush=True)\nwhile True: pass"


def test_the_wait_sampler_sees_a_blocked_thread_in_futex_and_a_busy_one_running() -> None:
    if procstat.SYSCALL_NAMES.get(202) != "futex":
        pytest.skip("system call names are known for x86-64 only")
    children = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                                 text=True) for code in (BLOCKED, BUSY)]
    try:
        for child in children:
            assert child.stdout is not None and child.stdout.readline() == "ready\n"
        sampler = procstat.WaitSampler([c.pid for c in children], every=0.001).start()
        labels = ["p0/t0", "p1/t0"]
        deadline = time.monotonic() + 10
        while min(sum(sampler.counts[label].values()) for label in labels) < 50:
            assert time.monotonic() < deadline, "too few samples in 10 s"
            threading.Event().wait(0.05)
        waits = sampler.stop()
    finally:
        for child in children:
            child.kill()
            child.wait()
    blocked_counts, busy_counts = (waits[label] for label in labels)
    assert blocked_counts.get("futex", 0) > 0.9 * sum(blocked_counts.values())
    assert busy_counts.get("running", 0) > 0.9 * sum(busy_counts.values())


def test_the_futex_share_counts_busy_threads_only() -> None:
    waits = {"t0": {"futex": 100},                              # idle: left out
             "t1": {"running": 60, "futex": 30, "poll": 10},
             "t2": {"running": 5, "futex": 95},                 # under 10% running: out
             "t3": {"running": 20, "fdatasync": 80}}
    assert procstat.busy_thread_share(waits, "futex") == pytest.approx(100 * 30 / 200)
    assert procstat.busy_thread_share({"t0": {"futex": 9}}, "futex") is None


def test_summary_with_wait_samples_shows_the_futex_share_and_each_busy_thread(
        report: dict[str, Any]) -> None:
    waits = {"t1": {"running": 70, "futex": 20, "poll": 10}, "t3": {"epoll_wait": 50}}
    sampled = {**report, "wait_sample": True,
               "system": {**report["system"], "waits": waits, "gil_wait_pct": 20.0},
               "baseline": {**report["baseline"], "waits": {}, "gil_wait_pct": None}}
    lines = summary_text(sampled).splitlines()
    row = next(line for line in lines if "busy threads in futex (GIL) %" in line)
    assert row.split()[-2:] == ["20.0", "-"]
    where = next(line for line in lines if line.startswith("  system: where its threads"))
    assert where.endswith("t1 running 70% futex 20% poll 10%")  # t3 never ran: left out
    assert not any(line.startswith("  baseline: where") for line in lines)
