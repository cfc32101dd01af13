"""What the front door reports of a part from its heartbeats (actors/liveness.py)."""

from __future__ import annotations

from actors.config import Endpoints
from actors.liveness import HEARTBEAT_LIVENESS, Liveness
from actors.wire import Alive


def _liveness() -> Liveness:
    return Liveness(Endpoints())


def test_a_part_is_down_exactly_when_its_reported_silence_is_over_the_limit() -> None:
    live = _liveness()
    heard = live._heard["gatekeeper"]
    limit_ms = int(HEARTBEAT_LIVENESS * 1000)
    # Just past the limit, the milliseconds truncate to the limit itself: still up.
    at_limit = live.views(heard + HEARTBEAT_LIVENESS + 0.0004)["gatekeeper"]
    assert (at_limit.last_heard_ms, at_limit.up) == (limit_ms, True)
    past = live.views(heard + HEARTBEAT_LIVENESS + 0.0011)["gatekeeper"]
    assert (past.last_heard_ms, past.up) == (limit_ms + 1, False)


def test_an_answer_brings_a_part_back_with_what_it_told() -> None:
    live = _liveness()
    live.heard(Alive("stock-handler", storage="failing", last_seq=7))
    view = live.views(live._heard["stock-handler"])["stock-handler"]
    assert (view.up, view.storage, view.last_heard_ms, view.last_seq) == (True, "failing", 0, 7)
