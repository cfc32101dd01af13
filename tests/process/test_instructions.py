"""`python -m tools.instructions`: the instruction-count harness runs its workload of
real purchases under callgrind and reports a figure per purchase. What the figure is
belongs to its output (README, "Benchmark and performance"), not to a test."""

from __future__ import annotations

import json
import subprocess
import sys

from tools.instructions import workload


def test_the_harness_counts_instructions_of_real_purchases_under_callgrind() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tools.instructions", "--clients", "2", "--rounds", "1",
         "--warmup", "1", "--json"], capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert figures["purchases"] == 2 and figures["requests"] == 4
    assert figures["instructions"] > 0
    assert figures["per_purchase"] == round(figures["instructions"] / 2)


def test_the_workload_answers_every_counted_request_and_buys_once_per_client_and_round() -> None:
    # The same workload without valgrind, in this process.
    assert workload(clients=3, rounds=2, warmup=1) == {"requests": 12, "purchases": 6}
