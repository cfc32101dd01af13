"""The table of ops (vending/ops.py) agrees with itself and with the rules that serve it."""

from __future__ import annotations

import pytest
from rules_world import GATEKEEPER_SESSION_OPS, Shop, error

from vending import OPS, SESSION_OPS, STATE_CHANGING_OPS
from vending.ops import FIFO_FOR_OP, ROLES_FOR_OP, SOURCE_FIFO, TABLE, ops_of, route
from vending.requests import OPS as REQUEST_OPS


def test_the_derived_sets_read_off_the_table() -> None:
    assert OPS == REQUEST_OPS == frozenset(TABLE)
    assert {op for op in OPS if TABLE[op].session} == SESSION_OPS
    assert {op for op in OPS if TABLE[op].changes_state} == STATE_CHANGING_OPS
    assert {"auth", "deposit", "buy", "sell", "delete_product", "reset",
                                  "logout", "logout_all", "delete_user"} == STATE_CHANGING_OPS


@pytest.mark.parametrize("op", sorted(TABLE))
def test_every_op_has_a_way_to_its_owner(op: str) -> None:
    spec = TABLE[op]
    if spec.owner == "frontdoor":
        assert spec.fifo is None and op not in FIFO_FOR_OP and ROLES_FOR_OP[op] == ()
    elif spec.owner == "source":
        # the role the request names, by a fifo it listens on
        assert spec.fifo is None and ROLES_FOR_OP[op] == ()
        for source, fifo in SOURCE_FIFO.items():
            assert route(op, {"source": source}) == (fifo, (source,))
            assert (fifo == "post") == (source == "stock-handler")
    else:
        assert FIFO_FOR_OP[op] == spec.fifo is not None
        assert spec.owner in ROLES_FOR_OP[op]
        # the gatekeeper listens on auth and deposit, the stock handler on post
        assert (spec.fifo == "post") == (spec.owner == "stock-handler")


def test_owners_partition_the_ops() -> None:
    owners = [ops_of("gatekeeper"), ops_of("stock-handler"), ops_of("frontdoor"),
              ops_of("source")]
    assert frozenset().union(*owners) == OPS
    assert sum(map(len, owners)) == len(OPS)
    assert ops_of("gatekeeper", session=False) == {"auth"}
    assert ops_of("stock-handler", session=False) == {"products", "product"}


@pytest.mark.parametrize("op", sorted(ops_of("gatekeeper", session=True)))
def test_each_gatekeeper_session_op_has_a_rule(shop: Shop, op: str) -> None:
    """The gatekeeper dispatches its session ops by the table: each must have a rule."""
    world, ann, _ = shop
    assert op in GATEKEEPER_SESSION_OPS
    fields = {"deposit": {"amount": 5}, "delete_user": {"password": "x" * 12}}.get(op, {})
    reply = world.op(ann, op, **fields)
    assert reply.get("ok") or error(reply) == "INVALID_CREDENTIALS", reply

