"""Session actors come and go; sessions end on logout or idleness."""

from __future__ import annotations

from typing import Any

PASSWORD = "correct horse battery"


def test_token_is_refused_after_logout(system: Any, account: Any, creds: Any) -> None:
    ann = account("ann", deposit=10)
    old = creds(ann)
    ann.logout()
    client = system.client()
    for op, fields in (("profile", {}), ("deposit", {"amount": 5}), ("reset", {}),
                       ("logout_all", {})):
        reply = client.request({"op": op, **old, **fields})
        assert reply["error"] == "UNAUTHORIZED", (op, reply)
    again = system.client()
    assert again.login("ann", PASSWORD)["deposit"] == 10


def test_idle_session_actor_is_stopped_and_the_session_still_works(
        make_system: Any, account: Any, wait_until: Any) -> None:
    # The idle timer is a knob set small; the test waits on what it causes, not on it.
    system = make_system(session_actor_idle=0.2)
    ann = account("ann", deposit=20, on=system)
    sam = account("sam", "seller", on=system)
    assert system.sessions.actors_started >= 2  # at least ann's and sam's (a count never falls)
    wait_until(lambda: system.sessions.live_actors == 0, what="idle session actors to stop")
    started = system.sessions.actors_started
    # The sessions are still valid: fresh actors pick them up.
    assert ann.deposit(5) == 25
    assert system.sessions.actors_started > started
    assert ann.profile()["deposit"] == 25
    uid = sam.sell("tea", 10, 1)["product_uid"]
    assert ann.buy(uid)["change"] == [10, 5]


def test_session_actor_cap_evicts_idle_actors(make_system: Any, account: Any) -> None:
    # An idle timer far past the test: only the cap of 3 stops actors here.
    system = make_system(max_session_actors=3, session_actor_idle=3600.0)
    clients = [account(f"user{n}", deposit=5, on=system) for n in range(6)]
    assert system.sessions.actors_started == 6
    assert system.sessions.live_actors == 3
    for n, client in enumerate(clients):
        assert client.deposit(5) == 10, n
        assert system.sessions.live_actors == 3, n
    # Each of the six had been evicted by the time it came back: a fresh actor each.
    assert system.sessions.actors_started == 12


def test_idle_session_expires(make_system: Any, account: Any, wait_until: Any) -> None:
    system = make_system(session_idle=0.3)
    ann = account("ann", deposit=10, on=system)
    assert ann.profile()["ok"] is True

    def refused() -> bool:
        reply = ann.request({"op": "profile", "wsess_uid": ann.wsess_uid, "token": ann.token})
        return reply.get("error") == "UNAUTHORIZED"
    # Probes are further apart than the idle time, so they cannot keep it alive.
    wait_until(refused, interval=0.5, what="the idle session to expire")
    reply = ann.request({"op": "deposit", "wsess_uid": ann.wsess_uid, "token": ann.token,
                         "amount": 5, "req_id": "late"})
    assert reply["error"] == "UNAUTHORIZED"
    fresh = system.client()
    assert fresh.login("ann", PASSWORD)["deposit"] == 10
