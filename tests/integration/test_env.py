"""A real system on an `Env` the test hands in (actors/env.py; docs/design.md,
"What a part is given: the Env"): every part reads the clock it was given."""

from __future__ import annotations

from typing import Any

from clocks import WallJump

from actors.env import Env

PASSWORD = "correct horse battery"


def test_a_wall_clock_step_on_the_given_clock_expires_idle_sessions_and_nothing_else(
        make_system: Any, account: Any) -> None:
    """Sessions expire on the given clock, at once and without waiting; requests
    still go through, so the deadline the front door stamps and the one the
    backends check are read from the same clock (one read from the process's own
    would make every request stale after the step)."""
    clock = WallJump()
    system = make_system(env=Env(clock=clock))
    ann = account("ann", deposit=10, on=system)
    assert ann.profile()["ok"] is True
    clock.ahead = system.config.session_idle + 60
    reply = ann.request({"op": "profile", "wsess_uid": ann.wsess_uid, "token": ann.token})
    assert reply.get("error") == "UNAUTHORIZED", reply
    fresh = system.client()
    assert fresh.login("ann", PASSWORD)["deposit"] == 10
    assert fresh.deposit(5) == 15
