"""vending/fairqueue.py: round-robin over keys, a bound per key and in all."""

from __future__ import annotations

import pytest

from vending.fairqueue import FairQueue, Refused


def drain(queue: FairQueue[str]) -> list[str]:
    out = []
    while (popped := queue.pop()) is not None:
        out.append(popped[1])
    return out


def test_one_key_with_a_backlog_delays_another_by_one_item() -> None:
    queue: FairQueue[str] = FairQueue(per_key=10, total=100)
    for i in range(10):
        assert queue.push("flood", f"f{i}") is None
    assert queue.push("user", "u0") is None
    assert drain(queue)[:3] == ["f0", "u0", "f1"]


def test_keys_take_turns_in_the_order_they_arrived() -> None:
    queue: FairQueue[str] = FairQueue(per_key=5, total=100)
    for key in "abc":
        for i in range(2):
            queue.push(key, f"{key}{i}")
    assert drain(queue) == ["a0", "b0", "c0", "a1", "b1", "c1"]
    assert len(queue) == 0 and queue.pop() is None


def test_a_key_past_its_share_is_refused_alone() -> None:
    queue: FairQueue[str] = FairQueue(per_key=3, total=5)
    assert [queue.push("a", "x") for _ in range(4)] == [None, None, None, Refused.KEY]
    assert queue.held("a") == 3
    assert queue.push("b", "y") is None, "another key still gets in"
    assert queue.push("c", "z") is None
    assert queue.push("d", "w") is Refused.ALL, "the total bounds all keys together"
    queue.pop()
    assert queue.push("d", "w") is None


def test_an_uncapped_push_is_bound_by_the_total_only() -> None:
    queue: FairQueue[str] = FairQueue(per_key=1, total=3)
    assert [queue.push("local", "x", capped=False) for _ in range(4)] == [None] * 3 + [
        Refused.ALL]


def test_remove_takes_out_matching_items_and_keeps_the_count() -> None:
    queue: FairQueue[str] = FairQueue(per_key=5, total=10)
    for item in ("a1", "a2", "b1"):
        queue.push(item[0], item)
    assert queue.remove(lambda item: item in ("a2", "b1")) == ["a2", "b1"]
    assert len(queue) == 1 and list(queue) == ["a1"] and queue.held("b") == 0
    assert drain(queue) == ["a1"]


def test_bounds_must_make_sense() -> None:
    with pytest.raises(ValueError):
        FairQueue(per_key=0, total=1)
    with pytest.raises(ValueError):
        FairQueue(per_key=5, total=4)


def test_one_key_may_have_the_whole_queue_and_no_more() -> None:
    queue: FairQueue[str] = FairQueue(per_key=2, total=2)  # per_key == total is allowed
    assert [queue.push("a", "x") for _ in range(3)] == [None, None, Refused.KEY]
    for per_key, total in ((0, 5), (3, 2)):
        with pytest.raises(ValueError):
            FairQueue(per_key=per_key, total=total)
