"""A backend whose storage fails, at the actor tier (no thread, no socket).

The commit fails as a full disk does (fault point `gatekeeper.commit`, see
actors/faults.py): the batch is rolled back and answered UNAVAILABLE naming the
storage, the actor stays up, and once a write commits again everything is as
before, optional writes (a session's `last_seen`) included.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from actor_harness import ENDS, deliver
from test_backend_handlers import register, request

from actors import faults
from actors.wire import Alive, Heartbeat, Status

POINT = "gatekeeper.commit"


@pytest.fixture
def disk() -> Iterator[dict[str, str]]:
    """`disk[POINT] = "full"` fails every commit there until popped."""
    yield faults.ACTIVE
    faults.ACTIVE.pop(POINT, None)


def statuses(actor: Any) -> list[dict[str, Any]]:
    return [s.reply for s in actor.push.take(ENDS.status) if isinstance(s, Status)]


def last_seen(gatekeeper: Any, cred: dict[str, Any]) -> float:
    row = gatekeeper.db.conn.execute("SELECT last_seen FROM sessions WHERE wsess_uid=?",
                                     (cred["wsess_uid"],)).fetchone()
    return float(row[0])


def age_session(gatekeeper: Any, cred: dict[str, Any], seconds: float) -> float:
    """Move the session's last_seen `seconds` into the past (as if time had passed)."""
    with gatekeeper.db.transaction():
        gatekeeper.db.conn.execute("UPDATE sessions SET last_seen=last_seen-? WHERE wsess_uid=?",
                                   (seconds, cred["wsess_uid"]))
    return last_seen(gatekeeper, cred)


@pytest.mark.parametrize("kind", ["full", "ioerror", "readonly"])
def test_a_failing_commit_rolls_back_answers_unavailable_and_recovers(
        gatekeeper: Any, disk: dict[str, str], kind: str) -> None:
    ann = register(gatekeeper, "buyer", "ann")
    disk[POINT] = kind
    deliver(gatekeeper, request("deposit", ann, amount=5), request("deposit", ann, amount=10))
    refused = statuses(gatekeeper)
    assert len(refused) == 2 and {r["error"] for r in refused} == {"UNAVAILABLE"}
    assert all("storage" in r["message"] for r in refused), refused
    assert gatekeeper.gate.totals()["buyer_ann"]["deposited"] == 0  # rolled back
    assert gatekeeper.storage is not None and gatekeeper.storage.full == (kind == "full")
    # Still alive while failing: heartbeats are answered, telling the storage fails.
    deliver(gatekeeper, Heartbeat(ENDS.status))
    [alive] = gatekeeper.push.take(ENDS.status)
    assert isinstance(alive, Alive) and (alive.role, alive.storage) == ("gatekeeper", "failing")

    disk.pop(POINT)
    deliver(gatekeeper, request("deposit", ann, amount=20))
    assert statuses(gatekeeper) == [{"ok": True, "deposit": 20}]
    assert gatekeeper.storage is None
    assert gatekeeper.gate.totals()["buyer_ann"]["deposited"] == 20


def test_reads_are_served_while_the_storage_fails(gatekeeper: Any,
                                                  disk: dict[str, str]) -> None:
    ann = register(gatekeeper, "buyer", "ann")
    disk[POINT] = "full"
    deliver(gatekeeper, request("deposit", ann, amount=5))
    assert statuses(gatekeeper)[0]["error"] == "UNAVAILABLE"
    deliver(gatekeeper, Heartbeat(ENDS.status), request("profile", ann))
    sent = gatekeeper.push.take(ENDS.status)
    assert isinstance(sent[0], Alive) and sent[0].role == "gatekeeper"
    profile = [s.reply for s in sent[1:] if isinstance(s, Status)]
    assert profile and profile[0]["ok"] and profile[0]["user_uid"] == "buyer_ann"


def test_sessions_are_touched_again_after_a_disk_full_episode(
        gatekeeper: Any, disk: dict[str, str]) -> None:
    """While writes fail, a request skips its session's last_seen touch (an optional
    write must not fail the read it rides on); once a write commits, it touches
    again, or sessions would expire early."""
    ann = register(gatekeeper, "buyer", "ann")
    disk[POINT] = "full"
    deliver(gatekeeper, request("deposit", ann, amount=5))
    assert statuses(gatekeeper)[0]["error"] == "UNAVAILABLE"

    disk.pop(POINT)
    deliver(gatekeeper, request("deposit", ann, amount=5))  # a write commits: recovered
    assert statuses(gatekeeper) == [{"ok": True, "deposit": 5}]

    before = age_session(gatekeeper, ann, 60.0)
    deliver(gatekeeper, request("profile", ann))
    assert statuses(gatekeeper)[0]["ok"]
    assert last_seen(gatekeeper, ann) >= before + 59.0  # touched: about now again


def test_a_session_is_not_touched_while_the_storage_fails(
        gatekeeper: Any, disk: dict[str, str]) -> None:
    """The control for the test above: the touch is what storage failure skips."""
    ann = register(gatekeeper, "buyer", "ann")
    before = age_session(gatekeeper, ann, 60.0)  # due for a touch
    disk[POINT] = "full"
    deliver(gatekeeper, request("deposit", ann, amount=5))
    assert statuses(gatekeeper)[0]["error"] == "UNAVAILABLE"
    deliver(gatekeeper, request("profile", ann))
    assert statuses(gatekeeper)[0]["ok"]
    assert last_seen(gatekeeper, ann) == before
