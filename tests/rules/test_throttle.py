"""Failed-login throttling (docs/protocol.md §7, RATE_LIMITED)."""

from __future__ import annotations

import pytest
from rules_world import PASSWORD, T0, World, error

from vending import LoginThrottle, Outcome, ThrottleConfig, parse_request
from vending.call import Call

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
        assert error(world.auth("buyer", f"user{i % 10}", WRONG, peer="10.0.0.1")) \
            == "INVALID_CREDENTIALS", i
    assert world.auth("buyer", "ann", peer="10.0.0.1")["ok"]
    # The spraying address's success on its own account clears no address count.
    world.auth("buyer", "user0", WRONG, peer="10.0.0.1")
    assert error(world.auth("buyer", "ann", peer="10.0.0.1")) == "RATE_LIMITED"


def test_throttle_object_counts_exactly() -> None:
    throttle = LoginThrottle()
    now = 1000.0
    for i in range(10):
        assert not throttle.blocked("buyer_ann", "a1", now), i
        throttle.failed("buyer_ann", "a1", now)
    assert throttle.blocked("buyer_ann", "a1", now + 59)
    assert not throttle.blocked("buyer_ann", "a2", now), "another address is not locked out"
    assert not throttle.blocked("buyer_ann", None, now)
    assert not throttle.blocked("buyer_ann", "a1", now + 60.5)
    throttle.succeeded("buyer_ann", "a1")
    assert not throttle.blocked("buyer_ann", "a1", now)


def test_an_attacker_never_locks_the_owner_out_from_another_address(world: World) -> None:
    world.register("buyer", "ann")
    fail(world, "ann", 10, peer="10.0.0.9")
    assert error(world.auth("buyer", "ann", peer="10.0.0.9")) == "RATE_LIMITED"
    for _ in range(20):
        assert error(world.auth("buyer", "ann", WRONG, peer="10.0.0.9")) == "RATE_LIMITED"
    assert world.auth("buyer", "ann", peer="10.0.0.2")["ok"]
    assert world.auth("buyer", "ann")["ok"]  # in-process: one more source


def test_a_hundred_failures_over_many_addresses_block_the_account(world: World) -> None:
    world.register("buyer", "ann")
    for i in range(99):  # 9 per address: no (account, address) key reaches 10
        world.auth("buyer", "ann", WRONG, peer=f"10.0.{i // 9}.1")
    owner = world.auth("buyer", "ann", peer="10.9.9.9")
    assert owner["ok"], "99 failures over all addresses are below the account limit"
    # The owner's success clears only its own (account, address) count.
    world.auth("buyer", "ann", WRONG, peer="10.0.20.1")
    assert error(world.auth("buyer", "ann", peer="10.9.9.8")) == "RATE_LIMITED"
    assert world.auth("buyer", "bob", WRONG, peer="10.9.9.8")["error"] == "INVALID_CREDENTIALS"
    # 10.9.9.9 logged in to ann above: a known address, spared by the account-wide key.
    assert world.auth("buyer", "ann", peer="10.9.9.9")["ok"]
    world.tick(61)
    assert world.auth("buyer", "ann", peer="10.9.9.8")["ok"]


def test_wrong_passwords_in_delete_user_are_counted(world: World) -> None:
    ann = world.register("buyer", "ann")
    for i in range(10):
        reply = world.op(ann, "delete_user", password=WRONG, peer="10.0.0.9")
        assert error(reply) == "INVALID_CREDENTIALS", (i, reply)
    assert error(world.op(ann, "delete_user", password=PASSWORD, peer="10.0.0.9")) \
        == "RATE_LIMITED"
    assert error(world.auth("buyer", "ann", peer="10.0.0.9")) == "RATE_LIMITED"
    assert world.op(ann, "profile", peer="10.0.0.9")["ok"], "the session itself stays usable"
    assert world.op(ann, "delete_user", password=PASSWORD, peer="10.0.0.2")["ok"]


def test_delete_user_is_refused_while_its_address_is_blocked(world: World) -> None:
    ann = world.register("buyer", "ann")
    fail(world, "ann", 10, peer="10.0.0.9")
    req = parse_request({"op": "delete_user", "password": PASSWORD, **{
        k: ann[k] for k in ("wsess_uid", "token")}})
    with world.acc.db.transaction():
        out = world.acc.answer(Call(req, "10.0.0.9"))
    assert isinstance(out, Outcome), "no argon2 job may run for a throttled delete_user"
    assert error(out.reply) == "RATE_LIMITED"


def test_a_spray_of_names_and_addresses_stays_under_the_cap() -> None:
    throttle = LoginThrottle(ThrottleConfig(max_keys=50_000))
    for i in range(200_000):
        throttle.failed(f"buyer_user{i}", f"10.{i >> 16}.{(i >> 8) & 255}.{i & 255}", float(i))
        assert len(throttle) <= 50_000 or pytest.fail(f"{len(throttle)} keys after {i}")
    assert len(throttle) == 50_000
    # The newest keys are the ones kept, and they still count.
    for _ in range(9):
        throttle.failed("buyer_user199999", "10.3.13.63", 200_000.0)
    assert throttle.blocked("buyer_user199999", "10.3.13.63", 200_000.0)


def test_the_default_cap_holds_too() -> None:
    throttle = LoginThrottle()
    for i in range(200_000):
        throttle.failed(f"buyer_user{i}", f"addr{i}", 0.0)
    assert len(throttle) == throttle.config.max_keys


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


def test_an_address_counts_as_unknown_unless_the_caller_says_it_is_known() -> None:
    """`LoginThrottle.failed`/`blocked` default to `known=False`: the account-wide key."""
    throttle = LoginThrottle()
    for i in range(ThrottleConfig().account_failures):
        throttle.failed("buyer_ann", f"10.1.{i // 250}.{i % 250}", T0)
    assert throttle.blocked("buyer_ann", "10.9.9.9", T0)
    assert not throttle.blocked("buyer_ann", "10.9.9.9", T0, known=True)


def test_the_window_ends_the_same_way_for_failures_and_registrations() -> None:
    """"Within a minute" is one rule: a first try exactly `window` old still counts."""
    config = ThrottleConfig()
    for last in (1000.0 + config.window, 1000.0 + config.window - 0.001):
        failures = LoginThrottle(config)
        for i in range(config.pair_failures - 1):
            failures.failed("buyer_ann", "a1", 1000.0 + i * 0.0001)
        failures.failed("buyer_ann", "a1", last)
        assert failures.blocked("buyer_ann", "a1", last)
        registrations = LoginThrottle(config)
        for i in range(config.address_registrations):
            assert registrations.register("a1", 1000.0 + i * 0.0001)
        assert not registrations.register("a1", last)
        assert registrations.register("a1", last + 0.01), "past the window: counted again"
