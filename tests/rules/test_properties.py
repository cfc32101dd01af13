"""Properties: money and stock conservation, no oversell, idempotent retries.

Random op sequences run against the real rules and a small model of what the
contract promises (docs/design.md, Guarantees); every reply is checked against the
model, then the totals.
Users are registered once (argon2 is slow) into a template database that each
example copies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from rules_world import World, error
from stock_helpers import product_of, reserve_at

from vending import COINS, STOCK_SCHEMA, Database, Grant, Stock, make_change, parse_request
from vending.call import Call
from vending.purchase import settle

BUYERS, SELLERS, MAX_PRODUCTS = 3, 2, 4
REQ_IDS = st.one_of(st.none(), st.none(), st.sampled_from(["r0", "r1", "r2"]))

deposit_op = st.tuples(st.just("deposit"), st.integers(0, BUYERS - 1),
                       st.sampled_from([*COINS, 100, 100, 7]), REQ_IDS)
# product index 9 is mostly missing (PRODUCT_NOT_FOUND)
buy_op = st.tuples(st.just("buy"), st.integers(0, BUYERS - 1), st.sampled_from([0, 0, 1, 2, 9]),
                   st.sampled_from([1, 1, 2, 3]), REQ_IDS)
reset_op = st.tuples(st.just("reset"), st.integers(0, BUYERS - 1), REQ_IDS)
create_op = st.tuples(st.just("create"), st.integers(0, SELLERS - 1),
                      st.sampled_from([5, 35, 50, 100, 125]), st.integers(0, 5), REQ_IDS)
restock_op = st.tuples(st.just("restock"), st.integers(0, SELLERS - 1),
                       st.integers(0, MAX_PRODUCTS), st.integers(-4, 6).filter(bool), REQ_IDS)
OPS = st.lists(st.one_of(deposit_op, deposit_op, deposit_op, buy_op, buy_op, reset_op,
                         create_op, restock_op), min_size=5, max_size=50)
# products on the shelf before the ops start (created without req_id)
SHELF = st.lists(st.tuples(st.just("create"), st.integers(0, SELLERS - 1),
                           st.sampled_from([5, 35, 50, 100]), st.integers(1, 6), st.none()),
                 min_size=1, max_size=3)
# coins put in before the ops start
WALLETS = st.lists(st.tuples(st.just("deposit"), st.integers(0, BUYERS - 1),
                             st.sampled_from([100, 50, 20]), st.none()), max_size=8)


@lru_cache(maxsize=1)
def template() -> tuple[World, list[dict[str, Any]], list[dict[str, Any]]]:
    world = World()
    buyers = [world.register("buyer", f"b{i}") for i in range(BUYERS)]
    sellers = [world.register("seller", f"s{i}") for i in range(SELLERS)]
    return world, buyers, sellers


def fresh_world() -> World:
    base = template()[0]
    world = World()
    base.acc.db.conn.backup(world.acc.db.conn)
    return world


@dataclass
class Product:
    uid: str
    seller: int
    cost: int
    amount: int
    added: int
    sold: int = 0


@dataclass
class Model:
    deposit: list[int] = field(default_factory=lambda: [0] * BUYERS)
    accepted: list[int] = field(default_factory=lambda: [0] * BUYERS)
    spent: list[int] = field(default_factory=lambda: [0] * BUYERS)
    coins_back: list[int] = field(default_factory=lambda: [0] * BUYERS)
    products: list[Product] = field(default_factory=list)
    bought: dict[str, int] = field(default_factory=dict)
    # (account, req_id) -> (request key, first reply)
    seen: dict[tuple[str, str], tuple[Any, dict[str, Any]]] = field(default_factory=dict)

    def product(self, index: int) -> Product | None:
        return self.products[index] if index < len(self.products) else None


def expected_error(model: Model, op: tuple[Any, ...]) -> str | None:
    kind = op[0]
    if kind == "deposit":
        _, b, coin, _ = op
        return None if coin in COINS else "WRONG_AMOUNT"
    if kind == "buy":
        _, b, index, units, _ = op
        p = model.product(index)
        if p is None:
            return "PRODUCT_NOT_FOUND"
        if p.amount < units:
            return "INSUFFICIENT_STOCK"
        return "INSUFFICIENT_DEPOSIT" if model.deposit[b] < p.cost * units else None
    if kind == "restock":
        _, s, index, delta, _ = op
        p = model.product(index)
        if p is None:
            return "PRODUCT_NOT_FOUND"
        if p.seller != s:
            return "NOT_OWNER"
        return "INSUFFICIENT_STOCK" if p.amount + delta < 0 else None
    return None


def apply(model: Model, op: tuple[Any, ...], reply: dict[str, Any]) -> None:
    """Check a fresh (not replayed) reply against the model, then update the model."""
    assert error(reply) == expected_error(model, op), (op, reply)
    if not reply["ok"]:
        return
    kind = op[0]
    if kind == "deposit":
        model.deposit[op[1]] += op[2]
        model.accepted[op[1]] += op[2]
        assert reply["deposit"] == model.deposit[op[1]]
    elif kind == "reset":
        b = op[1]
        assert reply["change"] == make_change(model.deposit[b]) and reply["deposit"] == 0
        model.coins_back[b] += sum(reply["change"])
        model.deposit[b] = 0
    elif kind == "buy":
        _, b, index, units, _ = op
        p = model.products[index]
        total = p.cost * units
        assert reply["spent"] == total and reply["amount"] == units and reply["deposit"] == 0
        assert reply["change"] == make_change(model.deposit[b] - total)
        model.spent[b] += total
        model.coins_back[b] += sum(reply["change"])
        model.deposit[b] = 0
        p.amount -= units
        p.sold += units
        model.bought[p.uid] = model.bought.get(p.uid, 0) + units
    elif kind == "create":
        _, s, cost, units, _ = op
        product = reply["product"]
        assert (product["cost"], product["amount"]) == (cost, units)
        model.products.append(Product(product["product_uid"], s, cost, units, units))
    elif kind == "restock":
        p = model.products[op[2]]
        p.amount += op[3]
        p.added += op[3]
        assert reply["product"]["amount"] == p.amount


def run(world: World, model: Model, op: tuple[Any, ...]) -> None:
    _, buyers, sellers = template()
    kind, who, req_id = op[0], op[1], op[-1]
    if kind in ("deposit", "buy", "reset"):
        cred, account = buyers[who], f"b{who}"
    else:
        cred, account = sellers[who], f"s{who}"
    fields: dict[str, Any] = {}
    if kind == "deposit":
        fields = {"amount": op[2]}
    elif kind == "buy":
        p = model.product(op[2])
        fields = {"product_uid": p.uid if p else "p404", "amount": op[3]}
    elif kind == "create":
        fields = {"product_name": "thing", "cost": op[2], "amount": op[3]}
    elif kind == "restock":
        p = model.product(op[2])
        fields = {"product_uid": p.uid if p else "p404", "amount": op[3]}
    name = {"create": "sell", "restock": "sell"}.get(kind, kind)
    key = (name, tuple(sorted(fields.items())))
    if req_id is not None:
        fields["req_id"] = req_id
    reply = world.op(cred, name, **fields)
    if req_id is not None and (account, req_id) in model.seen:
        first_key, first_reply = model.seen[(account, req_id)]
        if first_key == key:
            assert reply == first_reply, (op, reply, first_reply)
        else:
            assert error(reply) == "BAD_REQUEST", (op, reply)
        return
    apply(model, op, reply)
    if req_id is not None:
        model.seen[(account, req_id)] = (key, reply)


def check_conservation(world: World, model: Model) -> None:
    totals = world.acc.totals()
    for b in range(BUYERS):
        t = totals[f"buyer_b{b}"]
        assert t["deposited"] == t["deposit"] + t["spent"] + t["returned"]
        assert min(t.values()) >= 0
        assert t == {"deposited": model.accepted[b], "deposit": model.deposit[b],
                     "spent": model.spent[b], "returned": model.coins_back[b]}
        # what clients were handed back plus what they spent is what they put in
        assert model.coins_back[b] + model.spent[b] + model.deposit[b] == model.accepted[b]
    stock = world.stock.totals()
    assert set(stock) == {p.uid for p in model.products}
    for p in model.products:
        s = stock[p.uid]
        assert s["added"] == s["amount"] + s["sold"]
        assert s["amount"] >= 0 and s["sold"] >= 0
        assert s == {"added": p.added, "amount": p.amount, "sold": p.sold}
        assert s["sold"] == model.bought.get(p.uid, 0)  # no oversell, no lost sale
        assert world.units(p.uid) == p.amount
    assert world.stock.reservations() == []


@settings(max_examples=200, deadline=None)
@given(SHELF, WALLETS, OPS)
def test_conservation_and_idempotency(shelf: list[tuple[Any, ...]],
                                      wallets: list[tuple[Any, ...]],
                                      ops: list[tuple[Any, ...]]) -> None:
    world, model = fresh_world(), Model()
    for op in shelf + wallets + ops:
        run(world, model, op)
        check_conservation(world, model)


# -- stock with purchases in flight ---------------------------------------------------

stock_ops = st.lists(st.one_of(
    st.tuples(st.just("reserve"), st.integers(0, 9), st.integers(1, 4)),
    st.tuples(st.just("settle"), st.integers(0, 9), st.booleans()),
    st.tuples(st.just("update"), st.integers(-5, 5)),
), max_size=60)


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 8), stock_ops)
def test_reservations_never_oversell(initial: int, ops: list[tuple[Any, ...]]) -> None:
    s = Stock(Database(None, STOCK_SCHEMA), clock=lambda: 0.0)
    who = Grant(1, "seller_sam")
    cred = {"wsess_uid": "s", "token": "t"}
    with s.db.transaction():
        create = parse_request({"op": "sell", "product_name": "x", "cost": 5,
                                "amount": initial, **cred})
        uid = s.authorized(Call(create, who=who)).reply["product"]["product_uid"]
    held: dict[str, int] = {}
    sold = 0
    added = initial
    for op in ops:
        free = added - sold - sum(held.values())
        with s.db.transaction():
            if op[0] == "reserve":
                pid, units = f"P{op[1]}", op[2]
                req = parse_request({"op": "buy", "product_uid": uid, "amount": units, **cred})
                step = reserve_at(s, pid, req)
                if pid in held:
                    assert step.stock_error is None
                elif units <= free:
                    assert step.stock_error is None, step.stock_error
                    held[pid] = units
                else:
                    assert error(step.stock_error) == "INSUFFICIENT_STOCK"
            elif op[0] == "settle":
                pid = f"P{op[1]}"
                settle(s, pid, op[2])
                units = held.pop(pid, 0)
                if op[2]:
                    sold += units
            else:
                req = parse_request({"op": "sell", "product_uid": uid, "amount": op[1], **cred})
                reply = s.authorized(Call(req, who=who)).reply
                if free + op[1] < 0:
                    assert error(reply) == "INSUFFICIENT_STOCK"
                else:
                    assert reply["ok"], reply
                    added += op[1]
        t = s.totals()[uid]
        assert t == {"added": added, "amount": added - sold, "sold": sold}
        public = product_of(s, uid)["product"]["amount"]
        assert public == added - sold - sum(held.values()) >= 0
        assert sorted(s.reservations()) == sorted(held)
