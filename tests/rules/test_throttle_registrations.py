"""More than 30 registrations per minute from one address: RATE_LIMITED
(docs/protocol.md, RATE_LIMITED; vending/throttle.py)."""

from __future__ import annotations

from rules_world import T0, World, error

from vending.throttle import LoginThrottle, ThrottleConfig


def test_the_thirty_first_registration_within_a_minute_is_refused(world: World) -> None:
    world.register("buyer", "ann")
    got = [error(world.auth("new_buyer", "ann", peer="10.0.0.1")) for _ in range(30)]
    assert got == ["DUPLICATE_USERNAME"] * 30, "every attempt costs a hash, so every one counts"
    assert error(world.auth("new_buyer", "bob", peer="10.0.0.1")) == "RATE_LIMITED"
    assert world.acc.login.known.addresses(1) == ["local"]
    assert world.auth("new_buyer", "bob", peer="10.0.0.2")["ok"], "another address is not"
    world.tick(61)
    assert world.auth("new_buyer", "cat", peer="10.0.0.1")["ok"]


def test_logins_from_a_limited_address_go_on(world: World) -> None:
    world.register("buyer", "ann")
    for _ in range(30):
        world.auth("new_buyer", "ann", peer="10.0.0.1")
    assert error(world.auth("new_buyer", "zed", peer="10.0.0.1")) == "RATE_LIMITED"
    assert world.auth("buyer", "ann", peer="10.0.0.1")["ok"]


def test_the_window_slides_and_refusals_are_not_counted() -> None:
    throttle = LoginThrottle(ThrottleConfig(address_registrations=3))
    assert [throttle.register("a", t) for t in (0.0, 10.0, 20.0)] == [True] * 3
    assert not throttle.register("a", 59.0)
    assert throttle.register("a", 60.5), "the first of the three is a minute old"
    assert not throttle.register("a", 61.0)
    assert throttle.register("b", 61.0)


def test_in_process_registrations_are_not_counted() -> None:
    throttle = LoginThrottle(ThrottleConfig(address_registrations=1))
    assert all(throttle.register(None, 0.0) for _ in range(100))
    assert len(throttle) == 0


def test_past_max_keys_the_oldest_address_is_forgotten_not_the_newest() -> None:
    throttle = LoginThrottle(ThrottleConfig(address_registrations=1, max_keys=2))
    assert all(throttle.register(a, T0) for a in ("10.0.0.1", "10.0.0.2", "10.0.0.3"))
    assert len(throttle) == 2
    assert throttle.register("10.0.0.3", T0 + 1) is False  # still counted: refused
    assert throttle.register("10.0.0.1", T0 + 1) is True  # forgotten: counted afresh
