"""The throttle's edges in time (vending/throttle.py, docs/protocol.md §7): ten failures
exactly one window apart still block; an old failure does not stretch the window of
later ones; the cooldown ends exactly `cooldown` seconds after the blocking failure."""

from __future__ import annotations

from rules_world import World, error

from vending import ThrottleConfig

WRONG = "wrong password"


def fail(world: World, times: int) -> None:
    for i in range(times):
        assert error(world.auth("buyer", "ann", WRONG)) == "INVALID_CREDENTIALS", i


def test_ten_failures_exactly_one_window_apart_block() -> None:
    world = World()
    world.register("buyer", "ann")
    fail(world, 1)
    world.tick(ThrottleConfig().window)   # the 10th failure lands exactly on the window
    fail(world, 9)
    assert error(world.auth("buyer", "ann")) == "RATE_LIMITED"


def test_an_old_failure_drops_out_of_the_count() -> None:
    world = World()
    world.register("buyer", "ann")
    fail(world, 1)
    world.tick(ThrottleConfig().window + 1)
    fail(world, 10)                       # ten within the window, after an old one
    assert error(world.auth("buyer", "ann")) == "RATE_LIMITED"


def test_the_cooldown_ends_exactly_cooldown_seconds_after_the_last_failure() -> None:
    world = World()
    world.register("buyer", "ann")
    fail(world, 10)
    world.tick(ThrottleConfig().cooldown - 1)
    assert error(world.auth("buyer", "ann")) == "RATE_LIMITED"
    world.tick(1)
    assert world.auth("buyer", "ann")["ok"] is True
