"""A token is valid only with the `wsess_uid` it was issued with (docs/protocol.md §5),
even when that other `wsess_uid` is a live session of the same account.

Each case swaps the credentials of two live sessions of one account and checks the
refusal and that nothing moved: balances, stock, products, and both sessions.
"""

from __future__ import annotations

from typing import Any

import pytest
from rules_world import PASSWORD, World, error
from session_ops import SESSION_OPS, fields_for


def _state(world: World) -> tuple[Any, ...]:
    return (world.acc.totals(), world.products(None))


@pytest.mark.parametrize("op", sorted(SESSION_OPS))
def test_token_of_another_session_of_the_same_account_is_refused(op: str) -> None:
    role = SESSION_OPS[op][0]
    world = World()
    ann = world.register("buyer", "ann")
    sam = world.register("seller", "sam")
    product_uid = world.create(sam, cost=5, amount=3)
    world.deposit(ann, 10)
    first = ann if role == "buyer" else sam
    second = world.login(role, first["user_uid"].split("_", 1)[1])
    args = fields_for(op, product_uid, PASSWORD)
    before = _state(world)

    for token_of, wsess_of in ((first, second), (second, first)):
        swapped = {"wsess_uid": wsess_of["wsess_uid"], "token": token_of["token"]}
        assert error(world.op(swapped, op, **args)) == "UNAUTHORIZED"

    assert _state(world) == before
    for cred in (first, second):  # neither session was ended by the refused calls
        assert world.op(cred, "profile")["active_sessions"] == 1
    # the same request with matching credentials is accepted: the refusal was the swap
    assert error(world.op(second, op, **args)) is None
