"""What the front door reports of a part from its heartbeats (actors/liveness.py)."""

from __future__ import annotations

import pytest

from actors.config import Endpoints
from actors.liveness import HEARTBEAT_LIVENESS, Liveness
from actors.wire import Alive
from vending.errors import Unavailable


class _Clock:
    """Monotonic time where the test puts it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now


def test_a_part_is_down_exactly_when_its_reported_silence_is_over_the_limit() -> None:
    clock = _Clock()
    live = Liveness(Endpoints(), clock)
    limit_ms = int(HEARTBEAT_LIVENESS * 1000)
    clock.now = 1000.0 + HEARTBEAT_LIVENESS
    at_limit = live.views()["gatekeeper"]
    assert (at_limit.last_heard_ms, at_limit.up) == (limit_ms, True)
    live.require(("gatekeeper",))  # what health calls up, requests may use
    # Just past the limit the milliseconds round up: reported down, never as 3000.
    clock.now = 1000.0 + HEARTBEAT_LIVENESS + 0.0004
    past = live.views()["gatekeeper"]
    assert (past.last_heard_ms, past.up) == (limit_ms + 1, False)
    with pytest.raises(Unavailable):
        live.require(("gatekeeper",))


def test_an_answer_brings_a_part_back_with_what_it_told() -> None:
    clock = _Clock()
    live = Liveness(Endpoints(), clock)
    clock.now += 10 * HEARTBEAT_LIVENESS
    live.heard(Alive("stock-handler", storage="failing", last_seq=7))
    view = live.views()["stock-handler"]
    assert (view.up, view.storage, view.last_heard_ms, view.last_seq) == (True, "failing", 0, 7)
    assert live.views()["gatekeeper"].up is False
