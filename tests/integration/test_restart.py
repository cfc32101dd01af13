"""Stop the embedded system and start it again on the same data folder."""

from __future__ import annotations

from typing import Any

import pytest

from actors.system import VendingSystem
from vending.db import StorageError

PASSWORD = "correct horse battery"


def session_of(system: VendingSystem, wsess_uid: str, token: str) -> Any:
    client = system.client(timeout=10)
    client.wsess_uid, client.token = wsess_uid, token
    return client


def test_everything_is_still_there_after_a_restart(tmp_path: Any, account: Any) -> None:
    data = str(tmp_path / "data")
    with VendingSystem(data_dir=data, binds=()) as first:
        sam = account("sam", "seller", on=first)
        ann = account("ann", deposit=100, on=first)
        cola = sam.sell("cola", 35, 10)
        tea = sam.sell("tea", 50, 2)
        bought = ann.buy(cola["product_uid"], 2)
        ann.deposit(20)
        ann.deposit(5)
        deposit_reply = ann.request({"op": "deposit", "wsess_uid": ann.wsess_uid,
                                     "token": ann.token, "amount": 10, "req_id": "dep-before"})
        assert deposit_reply["deposit"] == 35
        ann_session = (ann.wsess_uid, ann.token)
        sam_session = (sam.wsess_uid, sam.token)
        gone = account("gone", on=first)
        gone_session = (gone.wsess_uid, gone.token)
        gone.logout()
        products_before = sam.products()
    assert bought["spent"] == 70

    with VendingSystem(data_dir=data, binds=()) as second:
        ann = session_of(second, *ann_session)  # the live session survived
        sam = session_of(second, *sam_session)
        profile = ann.profile()
        assert (profile["user_uid"], profile["deposit"]) == ("buyer_ann", 35)
        assert sam.products() == products_before
        assert sam.product(cola["product_uid"])["amount"] == 8
        assert sam.product(tea["product_uid"]) == tea
        # The req_id kept from before the restart is still a replay.
        replay = ann.request({"op": "deposit", "wsess_uid": ann.wsess_uid, "token": ann.token,
                              "amount": 10, "req_id": "dep-before"})
        assert replay == deposit_reply
        assert ann.profile()["deposit"] == 35
        # Accounts and passwords, and the state keeps moving.
        assert second.client().login("ann", PASSWORD)["deposit"] == 35
        assert second.client().login("sam", PASSWORD, "seller")["role"] == "seller"
        assert ann.deposit(50) == 85
        assert ann.buy(tea["product_uid"])["change"] == [20, 10, 5]
        # A session ended before the restart stays ended.
        wsess, token = gone_session
        reply = second.client().request({"op": "profile", "wsess_uid": wsess, "token": token})
        assert reply["error"] == "UNAUTHORIZED"
        assert second.client().login("gone", PASSWORD)["active_sessions"] == 0


def test_a_second_system_on_the_same_folder_is_refused(tmp_path: Any) -> None:
    data = str(tmp_path / "data")
    with VendingSystem(data_dir=data, binds=()), pytest.raises(StorageError, match="in use"):
        VendingSystem(data_dir=data, binds=()).start()


def test_an_unusable_folder_is_refused(tmp_path: Any) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(StorageError, match="unusable"):
        VendingSystem(data_dir=str(blocker / "data"), binds=()).start()
