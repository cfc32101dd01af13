"""A right password clears the (account, address) count of the address it came from
(vending/throttle.py), whichever rule checked it: a login, a login replayed under its
req_id, or delete_user. The throttle tests' other cases use no address ("local"), where
"this address" and "no address" cannot be told apart; these use a real one."""

from __future__ import annotations

from rules_world import PASSWORD, World, error

WRONG = "wrong password"
PEER = "198.51.100.7"


def fail(world: World, username: str, times: int, peer: str | None = PEER) -> None:
    for i in range(times):
        reply = world.auth("buyer", username, WRONG, peer=peer)
        assert error(reply) == "INVALID_CREDENTIALS", (i, reply)


def ten_more_failures_block_but_one_does_not(world: World, username: str) -> None:
    """After a clearing success: one failure leaves the account open from PEER."""
    fail(world, username, 1)
    assert world.auth("buyer", username, peer=PEER)["ok"]
    fail(world, username, 10)
    assert error(world.auth("buyer", username, peer=PEER)) == "RATE_LIMITED"


def test_a_login_clears_its_own_address(world: World) -> None:
    world.register("buyer", "ann")
    fail(world, "ann", 9)
    assert world.auth("buyer", "ann", peer=PEER)["ok"]
    ten_more_failures_block_but_one_does_not(world, "ann")


def test_a_replayed_login_clears_its_own_address(world: World) -> None:
    world.register("buyer", "ann")
    first = world.auth("buyer", "ann", req_id="L1", peer=PEER)
    assert first["ok"]
    fail(world, "ann", 9)
    again = world.auth("buyer", "ann", req_id="L1", peer=PEER)
    assert again == first  # the replay: the same session, token and all
    ten_more_failures_block_but_one_does_not(world, "ann")


def test_delete_user_clears_its_own_address_for_the_next_account(world: World) -> None:
    ann = world.register("buyer", "ann")
    for _ in range(9):
        assert error(world.op(ann, "delete_user", password=WRONG, peer=PEER)) \
            == "INVALID_CREDENTIALS"
    assert world.op(ann, "delete_user", password=PASSWORD, peer=PEER)["ok"]
    # The same name registered again starts with no failures counted from PEER.
    world.register("buyer", "ann")
    ten_more_failures_block_but_one_does_not(world, "ann")


def test_failures_from_no_address_block_that_pair_alone(world: World) -> None:
    """Ten failures with no address ("local", known to the account: it registered
    from there) block the account from there, and not from an address it does not
    know: that pair's count is its own, and the account's is far from its bound."""
    world.register("buyer", "ann")
    fail(world, "ann", 10, peer=None)
    assert error(world.auth("buyer", "ann")) == "RATE_LIMITED"
    assert world.auth("buyer", "ann", peer=PEER)["ok"]  # unknown to ann until now
