"""Read-only ops ignore `req_id` (docs/protocol.md, Idempotency): a profile under a
req_id the account already used for a deposit is answered, not refused as a different
request, and it is not kept."""

from __future__ import annotations

from rules_world import Shop, error


def test_profile_ignores_a_req_id_used_for_a_deposit(shop: Shop) -> None:
    world, ann, _ = shop
    assert world.op(ann, "deposit", amount=5, req_id="r1")["deposit"] == 5
    profile = world.op(ann, "profile", req_id="r1")
    assert profile["ok"] is True and profile["deposit"] == 5
    world.deposit(ann, 10)
    # not kept either: the next profile under the same req_id is answered afresh
    assert world.op(ann, "profile", req_id="r1")["deposit"] == 15
    # while the state-changing op still treats the key as used
    assert error(world.op(ann, "deposit", amount=10, req_id="r1")) == "BAD_REQUEST"
