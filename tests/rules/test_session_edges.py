"""Session lifetimes at their edges: idle for exactly `idle` seconds, or as old as
`max_age`, is still live (docs/design.md reading 9); a second more is not."""

from __future__ import annotations

from rules_world import World, error

from vending import SessionPolicy


def test_idle_for_exactly_the_idle_time_is_still_live() -> None:
    world = World(policy=SessionPolicy(idle=100.0, touch_every=1.0))
    ann = world.register("buyer", "ann")
    world.tick(100)
    assert world.op(ann, "profile")["ok"] is True  # and this use renews it
    world.tick(100.5)
    assert error(world.op(ann, "profile")) == "UNAUTHORIZED"


def test_as_old_as_max_age_is_still_live_then_it_ends() -> None:
    world = World(policy=SessionPolicy(idle=100.0, max_age=300.0, touch_every=1.0))
    ann = world.register("buyer", "ann")
    for _ in range(3):
        world.tick(100)
        assert world.op(ann, "profile")["ok"] is True
    world.tick(1)
    assert error(world.op(ann, "profile")) == "UNAUTHORIZED"


def test_use_renews_only_every_touch_every_seconds() -> None:
    world = World(policy=SessionPolicy(idle=100.0, touch_every=10.0))
    ann = world.register("buyer", "ann")
    world.tick(9)
    assert world.op(ann, "profile")["ok"] is True  # too soon to write last_seen
    world.tick(92)  # 101 s after the last write
    assert error(world.op(ann, "profile")) == "UNAUTHORIZED"
    bob = world.register("buyer", "bob")
    world.tick(10)
    assert world.op(bob, "profile")["ok"] is True  # exactly touch_every: renewed
    world.tick(95)
    assert world.op(bob, "profile")["ok"] is True


def test_live_sessions_are_counted_over_every_account() -> None:
    """The gatekeeper's count for the `health` op (`SessionStore.live_total`)."""
    world = World(policy=SessionPolicy(idle=100.0, max_age=1000.0, touch_every=1.0))
    ann = world.register("buyer", "ann")
    world.register("seller", "sam")
    world.login("buyer", "ann")
    assert world.acc.sessions.live_total(world.now) == 3
    assert world.op(ann, "logout")["ok"]
    assert world.acc.sessions.live_total(world.now) == 2
    assert world.acc.sessions.live_total(world.now + 100) == 2  # idle exactly 100 s: live
    assert world.acc.sessions.live_total(world.now + 101) == 0
