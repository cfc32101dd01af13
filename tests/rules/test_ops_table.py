"""The table of ops (vending/ops.py) agrees with itself and with the rules that serve it."""

from __future__ import annotations

import pytest
from rules_world import GATEKEEPER_SESSION_OPS, Shop, World, error

from vending import OPS, SESSION_OPS, STATE_CHANGING_OPS, Outcome, __version__, parse_request
from vending.call import Call
from vending.errors import BadRequest
from vending.ops import FIFO_FOR_OP, ROLES_FOR_OP, SOURCE_FIFO, TABLE, ops_of, route
from vending.requests import OPS as REQUEST_OPS


def test_the_derived_sets_read_off_the_table() -> None:
    assert OPS == REQUEST_OPS == frozenset(TABLE)
    assert {op for op in OPS if TABLE[op].session} == SESSION_OPS
    assert {op for op in OPS if TABLE[op].changes_state} == STATE_CHANGING_OPS
    assert {"auth", "deposit", "buy", "sell", "delete_product", "reset",
                                  "logout", "logout_all", "delete_user",
                                  "change_password"} == STATE_CHANGING_OPS


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
    fields = {"deposit": {"amount": 5}, "delete_user": {"password": "x" * 12},
              "change_password": {"password": "x" * 12, "new_password": "y" * 12}}.get(op, {})
    reply = world.op(ann, op, **fields)
    assert reply.get("ok") or error(reply) == "INVALID_CREDENTIALS", reply



@pytest.mark.parametrize("op", sorted(TABLE))
def test_each_row_is_consistent_with_itself(op: str) -> None:
    row = TABLE[op]
    assert callable(row.rule) and row.rule.__name__ in (op, "reserve", "read", "auth")
    assert row.session == (row.caller != "anyone")
    assert row.read_only == (not row.changes_state)
    if row.ends_session:
        assert row.session and row.changes_state
    if row.opens_session:
        assert not row.session and row.owner == "gatekeeper"
    if row.path == "authorize":
        # the stock handler cannot see sessions: the gatekeeper checks the caller first
        assert row.owner == "stock-handler" and row.caller in ("buyer", "seller")
    if row.path == "saga":
        assert row.owner == "stock-handler" and row.caller == "buyer" and row.changes_state
    if row.owner == "stock-handler" and row.session:
        assert row.path != "here"  # nobody would check who is asking
    if row.read_only:
        assert row.unkept == frozenset() and row.kept == "final"


def test_who_may_call_each_op_is_read_off_its_row() -> None:
    callers = {op: row.caller for op, row in TABLE.items()}
    assert callers == {
        "ping": "anyone", "products": "anyone", "product": "anyone", "events": "anyone",
        "auth": "anyone", "profile": "session", "logout": "session", "logout_all": "session",
        "delete_user": "session", "deposit": "buyer", "reset": "buyer", "buy": "buyer",
        "sell": "seller", "delete_product": "seller", "history": "session",
        "change_password": "session", "health": "anyone"}


@pytest.mark.parametrize("op", sorted(op for op, row in TABLE.items()
                                      if row.caller in ("buyer", "seller")))
def test_the_wrong_role_is_refused_by_the_row_before_the_rule(shop: Shop, op: str) -> None:
    world, ann, sam = shop
    row = TABLE[op]
    wrong = sam if row.caller == "buyer" else ann
    fields = {"deposit": {"amount": 5}, "buy": {"product_uid": "p1", "amount": 1},
              "sell": {"product_name": "x", "cost": 5, "amount": 1},
              "delete_product": {"product_uid": "p1"}}.get(op, {})
    reply = world.op(wrong, op, **fields)
    assert error(reply) == ("BUYERS_ONLY" if row.caller == "buyer" else "SELLERS_ONLY")
    assert reply["message"] == f"only {row.caller}s can {row.verb}"


def test_ping_is_answered_by_its_row_with_the_version(world: World) -> None:
    assert world.call({"op": "ping"}) == {"ok": True, "version": __version__}


def test_events_are_answered_by_the_source_the_request_names(shop: Shop) -> None:
    world, ann, sam = shop
    world.deposit(ann, 5)
    world.create(sam)
    topics = {source: [e["topic"] for e in world.call(
        {"op": "events", "source": source})["events"]] for source in SOURCE_FIFO}
    assert "deposit" in topics["gatekeeper"] and "product" not in topics["gatekeeper"]
    assert topics["stock-handler"] == ["product"]


@pytest.mark.parametrize("op", sorted(ops_of("stock-handler")))
def test_the_gatekeeper_refuses_an_op_it_does_not_own(shop: Shop, op: str) -> None:
    world, ann, _ = shop
    fields = {"buy": {"product_uid": "p1", "amount": 1}, "product": {"product_uid": "p1"},
              "sell": {"product_name": "x", "cost": 5, "amount": 1},
              "delete_product": {"product_uid": "p1"}}.get(op, {})
    creds = {"wsess_uid": ann["wsess_uid"], "token": ann["token"]} if TABLE[op].session else {}
    req = parse_request({"op": op, **creds, **fields})
    with pytest.raises(BadRequest, match=f"'{op}' is not a gatekeeper op"):
        world.acc.answer(Call(req))


@pytest.mark.parametrize("op", sorted(ops_of("gatekeeper") | ops_of("stock-handler",
                                                                     session=True)))
def test_the_stock_handler_answers_alone_only_its_ops_on_the_here_path(shop: Shop,
                                                                       op: str) -> None:
    world, ann, _ = shop
    fields = {"auth": {"token": "buyer", "username": "ann", "password": "x" * 12},
              "deposit": {"amount": 5}, "delete_user": {"password": "x" * 12},
              "change_password": {"password": "x" * 12, "new_password": "y" * 12},
              "buy": {"product_uid": "p1", "amount": 1}, "delete_product": {"product_uid": "p1"},
              "sell": {"product_name": "x", "cost": 5, "amount": 1}}.get(op, {})
    creds = {"wsess_uid": ann["wsess_uid"], "token": ann["token"]} if TABLE[op].session else {}
    with pytest.raises(BadRequest, match=f"'{op}' is not a stock-handler op"):
        world.stock.answer(Call(parse_request({"op": op, **creds, **fields})))


def test_the_gatekeeper_answers_events_that_name_it(world: World) -> None:
    world.register("buyer", "ann")
    out = world.acc.answer(Call(parse_request({"op": "events", "source": "gatekeeper"})))
    assert isinstance(out, Outcome) and [e["topic"] for e in out.reply["events"]] == ["user"]
