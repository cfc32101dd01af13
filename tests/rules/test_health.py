"""The `health` reply (vending/health.py) from what the front door knows of each part."""

from __future__ import annotations

from vending.health import PartView, health, health_reply

UP = PartView(True, "ok", 120, last_seq=7, sessions=3)


def test_all_up_is_ok_with_every_field() -> None:
    reply = health_reply({"gatekeeper": UP, "stock-handler": PartView(True, "ok", 80, 4)}, 2)
    assert reply == {
        "ok": True, "status": "ok",
        "parts": {"front-door": {"up": True, "storage": "ok", "last_heard_ms": 0},
                  "gatekeeper": {"up": True, "storage": "ok", "last_heard_ms": 120},
                  "stock-handler": {"up": True, "storage": "ok", "last_heard_ms": 80}},
        "sessions": 3, "in_flight": 2,
        "last_seq": {"gatekeeper": 7, "stock-handler": 4}}


def test_a_part_down_or_failing_storage_is_degraded() -> None:
    down = health_reply({"gatekeeper": UP, "stock-handler": PartView(False, "ok", 4000, 4)}, 0)
    assert down["status"] == "degraded" and down["parts"]["stock-handler"]["up"] is False
    failing = health_reply({"gatekeeper": PartView(True, "failing", 10, 7, 3),
                            "stock-handler": UP}, 0)
    assert failing["status"] == "degraded"
    assert failing["parts"]["gatekeeper"]["storage"] == "failing"


def test_what_was_never_told_is_reported_as_zero() -> None:
    never = PartView(True, "ok", 0)
    reply = health_reply({"gatekeeper": never, "stock-handler": never}, 0)
    assert reply["sessions"] == 0 and reply["last_seq"] == {"gatekeeper": 0,
                                                            "stock-handler": 0}


class Door:
    """What the `health` rule reads of the front door answering it."""

    in_flight = 5

    def part_views(self) -> dict[str, PartView]:
        return {"gatekeeper": UP, "stock-handler": PartView(True, "ok", 80, 4)}


def test_the_rule_answers_from_the_door_it_runs_in() -> None:
    assert health(Door(), None).reply == health_reply(Door().part_views(), 5)


def test_a_door_that_knows_no_gatekeeper_reports_no_sessions() -> None:
    reply = health_reply({"stock-handler": UP}, 0)
    assert reply["sessions"] == 0 and reply["status"] == "ok"
    assert health_reply({}, 1)["sessions"] == 0  # a front door wired to no part yet
