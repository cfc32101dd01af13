"""What an ended session may still get: nothing new. delete_user ends every session of
the account, not just the caller's; and a stock op let through only to be replayed
(`Grant.replay_only`) gets UNAUTHORIZED when the stock handler kept no reply."""

from __future__ import annotations

from rules_world import PASSWORD, Shop, error

from vending import Grant, parse_request


def test_delete_user_ends_the_accounts_other_sessions(shop: Shop) -> None:
    world, ann, sam = shop
    sam2 = world.login("seller", "sam")
    ann2 = world.login("buyer", "ann")
    assert world.op(sam, "delete_user", password=PASSWORD)["ok"]
    assert world.op(ann, "delete_user", password=PASSWORD)["ok"]
    # the stock handler's check (authorize) reads the session, not the user row
    assert error(world.op(sam2, "sell", product_name="cola", cost=5, amount=1)) \
        == "UNAUTHORIZED"
    assert world.products() == {"ok": True, "products": []}
    for cred in (sam2, ann2):
        assert error(world.op(cred, "profile")) == "UNAUTHORIZED"
    live = world.acc.db.conn.execute(
        "SELECT count(*) FROM sessions WHERE ended IS NULL").fetchone()[0]
    assert live == 0


def test_a_replay_only_stock_op_without_a_kept_reply_is_unauthorized(shop: Shop) -> None:
    world, _, sam = shop
    fields = {"op": "sell", "wsess_uid": sam["wsess_uid"], "token": sam["token"],
              "product_name": "cola", "cost": 5, "amount": 1}
    kept = parse_request({**fields, "req_id": "s1"})
    lost = parse_request({**fields, "req_id": "s2"})
    first = world.authorize(kept)
    assert isinstance(first, Grant)
    assert isinstance(world.authorize(lost), Grant)
    sold = world.authorized(kept, first)   # s2 never reached the stock handler
    assert sold["ok"]
    assert world.op(sam, "logout") == {"ok": True, "ended": 1}
    only = Grant(first.account_id, "seller_sam", replay_only=True)
    assert world.authorized(kept, only) == sold
    assert error(world.authorized(lost, only)) == "UNAUTHORIZED"
    assert [p["product_uid"] for p in world.products()["products"]] == [
        sold["product"]["product_uid"]]
