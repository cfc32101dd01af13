"""What the front door reports of a part from its heartbeats (actors/liveness.py)."""

from __future__ import annotations

from typing import Any

import pytest
from clocks import HandClock

from actors.config import Endpoints
from actors.liveness import HEARTBEAT_EVERY, HEARTBEAT_LIVENESS, MISSED_LIMIT, Liveness
from actors.wire import Alive
from vending.errors import Unavailable


class _Sent:
    """An outbox that keeps what the front door sent (endpoint, message)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def send(self, endpoint: str, message: dict[str, Any]) -> None:
        self.sent.append((endpoint, message))

    def close(self) -> None:
        pass


def _ask_unanswered(live: Liveness, clock: HandClock, asks: int) -> None:
    """`asks` heartbeat rounds, HEARTBEAT_EVERY apart, that nobody answers."""
    out = _Sent()
    for _ in range(asks):
        live.tick(out, clock.now)
        clock.now += HEARTBEAT_EVERY
    assert len(out.sent) == 2 * asks  # one ask per watched role each round


def test_a_part_is_down_exactly_when_its_reported_silence_is_over_the_limit() -> None:
    clock = HandClock()
    live = Liveness(Endpoints(), clock)
    _ask_unanswered(live, clock, MISSED_LIMIT)
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
    clock = HandClock()
    live = Liveness(Endpoints(), clock)
    _ask_unanswered(live, clock, MISSED_LIMIT)
    clock.now += 10 * HEARTBEAT_LIVENESS
    live.heard(Alive("stock-handler", storage="failing", last_seq=7))
    view = live.views()["stock-handler"]
    assert (view.up, view.storage, view.last_heard_ms, view.last_seq) == (True, "failing", 0, 7)
    assert live.views()["gatekeeper"].up is False


def test_a_silence_with_no_ask_left_unanswered_is_not_taken_as_down() -> None:
    """The front door's own loop was held (a slow commit, a pause, a clock step):
    every part looks silent, though none was asked meanwhile."""
    clock = HandClock()
    live = Liveness(Endpoints(), clock)
    _ask_unanswered(live, clock, MISSED_LIMIT - 1)  # one ask sent just before the hold
    clock.now += 10 * HEARTBEAT_LIVENESS
    assert all(view.up for view in live.views().values())
    live.require(("gatekeeper", "stock-handler"))
    _ask_unanswered(live, clock, 1)  # asked again after the hold, and no answer
    assert not any(view.up for view in live.views().values())
    with pytest.raises(Unavailable):
        live.require(("stock-handler",))


def test_an_answer_forgets_the_asks_it_left_unanswered() -> None:
    clock = HandClock()
    live = Liveness(Endpoints(), clock)
    _ask_unanswered(live, clock, MISSED_LIMIT + 3)
    live.heard(Alive("gatekeeper"))
    clock.now += 10 * HEARTBEAT_LIVENESS  # held right after the answer
    assert live.views()["gatekeeper"].up is True
    assert live.views()["stock-handler"].up is False
