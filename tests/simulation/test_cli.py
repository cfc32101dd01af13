"""`vending simulate`'s output: the last line, --json, --replay, a failing run."""

from __future__ import annotations

import json
import re

import pytest

from cli.main import main
from simulation.bugs import first_failing_seed, reintroduced
from simulation.world import RETRY_CAUSES

LAST = re.compile(r"^simulate: seed=(\d+) steps=(\d+) requests=(\d+) faults=(\d+) "
                  r"violations=(\d+) trace=([0-9a-f]{64})$")


def test_the_last_line_names_the_seed_and_the_trace(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--seed", "3", "--steps", "800"]) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    match = LAST.match(last)
    assert match is not None, last
    assert match.group(1) == "3" and match.group(5) == "0"
    assert int(match.group(2)) >= 800


def test_json_has_the_line_s_keys_and_the_figures(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--seed", "3", "--steps", "800", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"seed", "steps", "requests", "faults", "violations", "trace", "simulated_s",
            "wall_s", "fault_kinds"} <= set(out)
    assert set(out["fault_kinds"]) == {"crash", "disk", "net", "clock"}
    assert sum(out["fault_kinds"].values()) == out["faults"]


def test_json_tells_why_each_failed_try_failed(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["simulate", "--seed", "1", "--steps", "4000", "--clients", "20", "--json"]
    assert main([*args, "--no-swarm"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["retries"]) == set(RETRY_CAUSES)
    # Every request is answered by the end: each try but its last failed, for a cause.
    assert sum(out["retries"].values()) == out["attempts"] - out["requests"] > 0
    assert out["retries"]["crash"] > 0 and out["retries"]["unavailable"] > 0
    # With no fault, no try fails: the simulator makes no retry of its own.
    assert main([*args, "--no-swarm", "--faults", "none"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["attempts"] == out["requests"] > 0
    assert set(out["retries"].values()) == {0}


def test_replay_prints_the_history_with_the_same_hash(
        capsys: pytest.CaptureFixture[str]) -> None:
    main(["simulate", "--seed", "5", "--steps", "400"])
    plain = capsys.readouterr().out.splitlines()[-1]
    main(["simulate", "--replay", "5", "--steps", "400"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == plain
    # The seed's configuration, then the history: a line per step (housekeeping
    # with nothing else runnable is one step of many pieces of work).
    assert " profile faults " in lines[0] and "process 1 starts" in lines[1]
    assert len(lines) > 100


def test_a_failing_run_prints_its_seed_and_the_command_that_replays_it(
        capsys: pytest.CaptureFixture[str]) -> None:
    seed, _ = first_failing_seed("early-status", 100)  # 17 seeds when measured
    with reintroduced("early-status"):
        code = main(["simulate", "--seed", str(seed), "--steps", "3000", "--clients", "6"])
    lines = capsys.readouterr().out.splitlines()
    assert code == 1
    assert f"failing seed {seed}; replay: vending simulate --replay {seed} --steps 3000" \
        " --clients 6" in lines
    assert LAST.match(lines[-1]) and "violations=0" not in lines[-1]


def test_unknown_fault_kinds_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["simulate", "--faults", "crash,meteor"])
    assert "meteor" in capsys.readouterr().err


SUMMARY = re.compile(r"^simulate: seeds (\d+)\.\.(\d+): (\d+) failed; (\d+) requests in "
                     r"([\d.]+) s wall, (\d+) per wall second, (\d+) job\(s\); "
                     r"([\d.]+) s CPU, ([\d.]+) ms CPU a request$")


def _summary(capsys: pytest.CaptureFixture[str], jobs: str) -> tuple[float, float]:
    """Run seeds 3 and 4 with `jobs`; the summary's CPU and CPU a request."""
    assert main(["simulate", "--seed", "3", "--seeds", "2", "--steps", "1500",
                 "--jobs", jobs]) == 0
    lines = capsys.readouterr().out.splitlines()
    match = SUMMARY.match(lines[-1])
    assert match is not None, lines[-1]
    seeds = [LAST.match(line) for line in lines[:-1]]
    requests = int(match.group(4))
    assert requests == sum(int(m.group(3)) for m in seeds if m is not None) > 0
    cpu, per_request = float(match.group(8)), float(match.group(9))
    assert abs(per_request - 1000 * cpu / requests) <= 1000 * 0.05 / requests + 0.001
    return cpu, per_request


def test_a_soak_s_summary_counts_the_cpu_of_its_workers_too(
        capsys: pytest.CaptureFixture[str]) -> None:
    _, here = _summary(capsys, "1")
    _, workers = _summary(capsys, "2")
    assert here > 0
    # The same seeds' work, done by two worker processes (which also import the
    # code) while this one only waits: counted, or it would read a fraction of it.
    assert workers > 0.8 * here
