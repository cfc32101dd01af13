"""actors/wire.py: a fifo message that is not well formed is refused with a
`BadMessage` naming its kind and the field at fault (the kind is looked up only
when refusing, not for every message read)."""

from __future__ import annotations

from typing import Any

import pytest

from actors.wire import BadMessage, Status, from_wire

RT = {"status_fifo": "inproc://status.fifo", "wsess": "s1", "ticket": 7}


@pytest.mark.parametrize(("message", "refusal"), [
    ({"k": "status", "reply": {"ok": True}}, "'status' message: rt is missing"),
    ({"k": "status", "rt": RT, "reply": {"ok": True}, "ended": 1},
     "'status' message: ended is mistyped"),
    ({"k": "status", "rt": RT, "reply": {"ok": "yes"}}, "'status' message: reply is mistyped"),
    ({"k": "status", "rt": {**RT, "ticket": "7"}, "reply": {"ok": True}},
     "'ReturnTicket' message: ticket is mistyped"),
    ({"k": "hb"}, "'hb' message: back is missing"),
])
def test_a_malformed_message_is_refused_naming_its_kind_and_field(
        message: dict[str, Any], refusal: str) -> None:
    with pytest.raises(BadMessage) as caught:
        from_wire(message)
    assert str(caught.value) == refusal


def test_a_well_formed_message_is_read() -> None:
    status = from_wire({"k": "status", "rt": RT, "reply": {"ok": True}})
    assert isinstance(status, Status) and status.rt.ticket == 7 and not status.ended
