"""Failed-login throttling (SPEC.md section 4, RATE_LIMITED)."""

from __future__ import annotations

from rules_world import PASSWORD, World, error

from vending import LoginThrottle

WRONG = "wrong password"


def fail(world: World, username: str, times: int, peer: str | None = None) -> None:
    for i in range(times):
        reply = world.auth("buyer", username, WRONG, peer=peer)
        assert error(reply) == "INVALID_CREDENTIALS", (i, reply)


def test_ten_failures_then_rate_limited_even_with_the_right_password(world: World) -> None:
    world.register("buyer", "ann")
    fail(world, "ann", 10)  # the 10th failure itself is still INVALID_CREDENTIALS
    assert error(world.auth("buyer", "ann")) == "RATE_LIMITED"
    assert error(world.auth("buyer", "ann", WRONG)) == "RATE_LIMITED"


def test_limit_is_per_account(world: World) -> None:
    world.register("buyer", "ann")
    world.register("seller", "ann")
    fail(world, "ann", 10)
    assert world.auth("seller", "ann")["ok"]  # seller_ann is another account
    assert world.auth("buyer", "bob", WRONG)["error"] == "INVALID_CREDENTIALS"


def test_unknown_accounts_are_limited_too(world: World) -> None:
    fail(world, "ghost", 10)
    assert error(world.auth("buyer", "ghost", WRONG)) == "RATE_LIMITED"


def test_registering_is_not_throttled(world: World) -> None:
    fail(world, "ann", 10)
    assert world.auth("new_buyer", "ann")["ok"]


def test_success_resets_the_account_count(world: World) -> None:
    world.register("buyer", "ann")
    fail(world, "ann", 9)
    assert world.auth("buyer", "ann")["ok"]
    fail(world, "ann", 10)
    assert error(world.auth("buyer", "ann")) == "RATE_LIMITED"


def test_failures_spread_over_more_than_a_minute_do_not_block(world: World) -> None:
    world.register("buyer", "ann")
    fail(world, "ann", 9)
    world.tick(61)
    fail(world, "ann", 9)
    assert world.auth("buyer", "ann")["ok"]


def test_cooldown_passes(world: World) -> None:
    world.register("buyer", "ann")
    fail(world, "ann", 10)
    world.tick(30)
    assert error(world.auth("buyer", "ann")) == "RATE_LIMITED"
    world.tick(31)
    assert world.auth("buyer", "ann")["ok"]


def test_thirty_failures_from_one_address(world: World) -> None:
    world.register("buyer", "ann")
    for i in range(30):  # 3 per username: no account reaches its own limit
        assert error(world.auth("buyer", f"user{i % 10}", WRONG, peer="10.0.0.1")) \
            == "INVALID_CREDENTIALS", i
    assert error(world.auth("buyer", "ann", peer="10.0.0.1")) == "RATE_LIMITED"
    assert world.auth("buyer", "ann", peer="10.0.0.2")["ok"]
    assert world.auth("buyer", "ann")["ok"]
    world.tick(61)
    assert world.auth("buyer", "ann", peer="10.0.0.1")["ok"]


def test_twenty_nine_failures_from_an_address_do_not_block(world: World) -> None:
    world.register("buyer", "ann")
    for i in range(29):
        world.auth("buyer", f"user{i % 10}", WRONG, peer="10.0.0.1")
    assert world.auth("buyer", "ann", peer="10.0.0.1")["ok"]


def test_throttle_object_counts_exactly() -> None:
    throttle = LoginThrottle()
    now = 1000.0
    for i in range(10):
        assert not throttle.blocked("buyer_ann", "a1", now), i
        throttle.failed("buyer_ann", "a1", now)
    assert throttle.blocked("buyer_ann", "a1", now)
    assert throttle.blocked("buyer_ann", None, now + 59)
    assert not throttle.blocked("buyer_ann", None, now + 60.5)
    throttle.succeeded("buyer_ann")
    assert not throttle.blocked("buyer_ann", "a1", now)


def test_password_is_still_checked_below_the_limit(world: World) -> None:
    world.register("buyer", "ann", PASSWORD)
    fail(world, "ann", 5)
    assert world.auth("buyer", "ann")["ok"]


def test_cooldown_counts_from_the_last_failure() -> None:
    """throttle.py's contract: "Past the threshold, that key is refused for
    `cooldown` seconds from its last failure" - also when the failures that
    reached the threshold were spread over the window."""
    throttle = LoginThrottle()
    for _ in range(9):
        throttle.failed("buyer_ann", None, 0.0)
    throttle.failed("buyer_ann", None, 59.0)  # 10 failures within a minute
    assert throttle.blocked("buyer_ann", None, 59.0)
    assert throttle.blocked("buyer_ann", None, 100.0), "refused only until t=60, not t=119"
    assert not throttle.blocked("buyer_ann", None, 119.5)
