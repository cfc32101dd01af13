"""The supervisor's restart rule (actors/supervisor.py `RestartBudget`), which the
real supervisor and the simulator's both ask."""

from __future__ import annotations

from actors.supervisor import RestartBudget


def test_a_child_restarts_at_most_max_restarts_times_within_the_window() -> None:
    budget = RestartBudget(max_restarts=3, window=60.0)
    assert [budget.allow("gatekeeper", t) for t in (0.0, 1.0, 2.0, 3.0)] == [
        True, True, True, False]
    assert budget.recent("gatekeeper") == 4
    # Another child has a budget of its own.
    assert budget.allow("stock-handler", 3.5)


def test_a_restart_exactly_a_window_ago_no_longer_counts() -> None:
    budget = RestartBudget(max_restarts=2, window=10.0)
    assert budget.allow("gatekeeper", 0.0) and budget.allow("gatekeeper", 5.0)
    assert not budget.allow("gatekeeper", 9.0)  # 0, 5 and 9: three within 10 s
    assert budget.allow("gatekeeper", 15.0)  # 0 and 5 have left the window: 9, 15
    assert budget.recent("gatekeeper") == 2
    assert not budget.allow("gatekeeper", 18.9)  # 9, 15, 18.9


def test_the_defaults_are_ten_restarts_a_minute() -> None:
    budget = RestartBudget()
    assert all(budget.allow("gatekeeper", t) for t in range(10))
    assert not budget.allow("gatekeeper", 10.0)
    assert budget.allow("gatekeeper", 71.0)  # only 11.0-71.0's count: this one alone


def test_recent_as_of_now_leaves_out_what_the_window_has_passed() -> None:
    budget = RestartBudget(max_restarts=10, window=10.0)
    for t in (0.0, 4.0, 8.0):
        budget.allow("gatekeeper", t)
    assert budget.recent("gatekeeper") == 3  # as of the last restart
    assert budget.recent("gatekeeper", 12.0) == 2  # 0 has left the window ending at 12
    assert budget.recent("gatekeeper", 14.0) == 1  # so has 4 (exactly a window ago)
    assert budget.recent("stock-handler", 14.0) == 0
