"""The clients' retry policy (transport/protocol.py `Retry`): how many tries, which
pauses, and the worst case a caller is promised (docs/protocol.md, section 9)."""

from __future__ import annotations

import random

import pytest

from transport.codec import decode_map
from transport.protocol import (
    DEFAULT_BACKOFF,
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT,
    MAX_PAUSE,
    Retry,
    worst_case,
)


def test_the_first_try_has_no_pause_and_there_are_retries_plus_one() -> None:
    pauses = list(Retry({"op": "ping"}, 4, 0.2, random.Random(1)).pauses())
    assert len(pauses) == 5 and pauses[0] == 0.0


def test_each_pause_stays_under_its_doubling_bound_and_the_cap() -> None:
    rng = random.Random(7)
    for _ in range(200):
        pauses = list(Retry({"op": "ping"}, 8, 0.1, rng).pauses())
        for n, pause in enumerate(pauses[1:], start=1):
            assert 0.0 <= pause <= min(MAX_PAUSE, 0.1 * 2 ** (n - 1)), (n, pause)


def test_pauses_are_jittered_not_a_fixed_schedule() -> None:
    rng = random.Random(3)
    schedules = {tuple(Retry({"op": "ping"}, 3, 0.2, rng).pauses()) for _ in range(20)}
    assert len(schedules) == 20  # clients that timed out together spread out
    # Full jitter: the whole range is used, not just around the bound.
    seconds = [Retry({"op": "ping"}, 1, 1.0, rng).pauses() for _ in range(400)]
    second = [list(p)[1] for p in seconds]
    assert min(second) < 0.1 and max(second) > 0.9


def test_no_backoff_means_no_pause() -> None:
    assert set(Retry({"op": "ping"}, 3, 0.0).pauses()) == {0.0}


def test_every_try_sends_the_same_req_id() -> None:
    retry = Retry({"op": "deposit", "amount": 5}, 3, 0.0)
    req_id = decode_map(retry.frame)["req_id"]
    assert isinstance(req_id, str) and req_id
    assert decode_map(Retry({"op": "deposit", "req_id": "mine"}, 1, 0.0).frame)["req_id"] == \
        "mine"


def test_the_worst_case_adds_every_try_and_every_pause_bound() -> None:
    assert worst_case(DEFAULT_TIMEOUT, DEFAULT_RETRIES, DEFAULT_BACKOFF) == pytest.approx(4.2)
    assert worst_case(5.0, 3, 0.2) == pytest.approx(20 + 0.2 + 0.4 + 0.8)
    assert worst_case(1.0, 10, 1.0) == pytest.approx(11 + 1 + 2 + 8 * MAX_PAUSE)
    # The interactive defaults report a missing server within the CLI's 5 s.
    assert worst_case(DEFAULT_TIMEOUT, DEFAULT_RETRIES, DEFAULT_BACKOFF) < 5


def test_negative_retries_are_refused() -> None:
    with pytest.raises(ValueError, match="retries"):
        Retry({"op": "ping"}, -1, 0.0)
