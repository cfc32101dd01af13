"""products: `name` (case-insensitive substring, Unicode casefold), paging by `after`
and `limit` with `more`; without `limit` the reply is what it always was."""

from __future__ import annotations

from typing import Any

from rules_world import Shop

NAMES = ["Coca-Cola", "Pepsi Cola", "Straße Snack", "ΣΊΣΥΦΟΣ", "Fanta", "cola zero"]


def uids(reply: dict[str, Any]) -> list[str]:
    return [p["product_uid"] for p in reply["products"]]


def stocked(shop: Shop) -> list[str]:
    world, _, sam = shop
    return [world.create(sam, name, cost=5, amount=1) for name in NAMES]


def test_without_limit_the_reply_is_as_before(shop: Shop) -> None:
    world = shop[0]
    made = stocked(shop)
    reply = world.op(None, "products")
    assert set(reply) == {"ok", "products"}
    assert uids(reply) == sorted(made)


def test_name_is_a_case_insensitive_substring(shop: Shop) -> None:
    world = shop[0]
    made = stocked(shop)
    assert uids(world.op(None, "products", name="COLA")) == [made[0], made[1], made[5]]
    assert set(world.op(None, "products", name="cola")) == {"ok", "products"}
    assert uids(world.op(None, "products", name="nothing")) == []


def test_name_compares_with_unicode_casefolding(shop: Shop) -> None:
    world = shop[0]
    made = stocked(shop)
    assert uids(world.op(None, "products", name="strasse")) == [made[2]]
    assert uids(world.op(None, "products", name="STRASSE")) == [made[2]]
    assert uids(world.op(None, "products", name="σίσυφος")) == [made[3]]  # final sigma


def test_paging_with_after_limit_and_more(shop: Shop) -> None:
    world = shop[0]
    made = sorted(stocked(shop))
    seen: list[str] = []
    after = None
    for _ in range(10):
        page = world.op(None, "products", limit=4, **({"after": after} if after else {}))
        assert len(page["products"]) <= 4
        seen += uids(page)
        if not page["more"]:
            break
        after = page["products"][-1]["product_uid"]
    assert seen == made
    assert world.op(None, "products", limit=6)["more"] is False
    assert world.op(None, "products", limit=5)["more"] is True


def test_paging_a_filtered_list(shop: Shop) -> None:
    world = shop[0]
    made = stocked(shop)
    first = world.op(None, "products", name="cola", limit=2)
    assert uids(first) == [made[0], made[1]] and first["more"] is True
    rest = world.op(None, "products", name="cola", limit=2, after=made[1])
    assert uids(rest) == [made[5]] and rest["more"] is False


def test_after_is_compared_as_a_string_and_needs_no_such_product(shop: Shop) -> None:
    world = shop[0]
    made = sorted(stocked(shop))
    assert uids(world.op(None, "products", after=made[2])) == made[3:]
    assert uids(world.op(None, "products", after="p")) == made
    assert world.op(None, "products", after="q", limit=3) == {"ok": True, "products": [],
                                                             "more": False}


def test_seller_filter_combines(shop: Shop) -> None:
    world = shop[0]
    made = stocked(shop)
    zed = world.register("seller", "zed")
    other = world.create(zed, "Cola light", cost=5, amount=1)
    assert uids(world.op(None, "products", name="cola", seller_uid="seller_zed")) == [other]
    assert uids(world.op(None, "products", name="cola", seller_uid="seller_sam",
                         limit=10)) == [made[0], made[1], made[5]]
