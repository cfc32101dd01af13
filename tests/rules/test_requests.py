"""parse_request: shapes, types and bounds of every op (docs/protocol.md §3-7)."""

from __future__ import annotations

import hashlib
from types import MappingProxyType
from typing import Any

import pytest
from rules_world import encodes_seen

from vending import OPS, Request, jsontext, parse_request, requests
from vending.errors import BadRequest, Unauthorized

CRED = {"wsess_uid": "s_abc", "token": "tok"}

# One valid request per op; every test below breaks one thing in one of them.
VALID: dict[str, dict[str, Any]] = {
    "ping": {"op": "ping"},
    "products": {"op": "products"},
    "product": {"op": "product", "product_uid": "p1"},
    "auth": {"op": "auth", "token": "new_buyer", "username": "ann", "password": "password1"},
    "deposit": {"op": "deposit", "amount": 5, **CRED},
    "buy": {"op": "buy", "product_uid": "p1", "amount": 1, **CRED},
    "sell": {"op": "sell", "product_name": "cola", "cost": 35, "amount": 0, **CRED},
    "delete_product": {"op": "delete_product", "product_uid": "p1", **CRED},
    "reset": {"op": "reset", **CRED},
    "profile": {"op": "profile", **CRED},
    "logout": {"op": "logout", **CRED},
    "logout_all": {"op": "logout_all", **CRED},
    "delete_user": {"op": "delete_user", "password": "password1", **CRED},
    "events": {"op": "events", "source": "gatekeeper"},
    "change_password": {"op": "change_password", "password": "password1",
                        "new_password": "password2", **CRED},
    "history": {"op": "history", **CRED},
    "health": {"op": "health"},
}

REQUIRED = [(op, name) for op, msg in VALID.items() for name in msg
            if name not in ("op", "wsess_uid", "token") or (op == "auth" and name == "token")]
SESSION_OPS = [op for op, msg in VALID.items() if "wsess_uid" in msg]


def bad(msg: Any, field: str | None = None) -> None:
    with pytest.raises(BadRequest) as info:
        parse_request(msg)
    assert info.value.code == "BAD_REQUEST"
    if field is not None:
        assert field in info.value.message, info.value.message


def test_every_op_has_a_valid_example() -> None:
    assert set(VALID) == set(OPS)
    for msg in VALID.values():
        req = parse_request(msg)
        assert req.op == msg["op"]


@pytest.mark.parametrize("op,name", REQUIRED)
def test_missing_required_field_is_bad_request_naming_it(op: str, name: str) -> None:
    msg = {k: v for k, v in VALID[op].items() if k != name}
    bad(msg, name)


@pytest.mark.parametrize("msg", [None, [], "op", b"op", 5, [("op", "ping")]])
def test_non_map_is_bad_request(msg: Any) -> None:
    bad(msg)


def test_any_map_is_taken_not_only_a_dict() -> None:
    # A decoded request is a dict; any other read-only map of the same items is the
    # same request (the dict test is a shortcut, not the rule).
    msg = VALID["deposit"]
    assert parse_request(MappingProxyType(msg)) == parse_request(dict(msg))


def test_non_string_key_is_bad_request() -> None:
    bad({"op": "ping", 1: "x"})
    bad({"op": "ping", b"op": "ping"})


@pytest.mark.parametrize("op", [None, 5, b"ping", "", "PING", "nope", "__class__"])
def test_missing_or_unknown_op_is_bad_request(op: Any) -> None:
    bad({} if op is None else {"op": op}, "op")


INT_FIELDS = [("deposit", "amount"), ("buy", "amount"), ("sell", "amount"), ("sell", "cost")]
#: Optional: None there is "not given" (parse_request leaves it out).
OPTIONAL_INT_FIELDS = [("history", "before"), ("history", "limit"), ("products", "limit")]


@pytest.mark.parametrize("op,name", OPTIONAL_INT_FIELDS)
@pytest.mark.parametrize("value", [True, False, 5.0, 1.5, "5", b"5", [5]])
def test_optional_integers_must_be_integers(op: str, name: str, value: Any) -> None:
    bad({**VALID[op], name: value}, name)


@pytest.mark.parametrize("op,name", INT_FIELDS)
@pytest.mark.parametrize("value", [True, False, 5.0, 1.5, "5", b"5", None, [5]])
def test_integers_must_be_integers(op: str, name: str, value: Any) -> None:
    bad({**VALID[op], name: value}, name)


STR_FIELDS = [("product", "product_uid"), ("buy", "product_uid"), ("delete_product", "product_uid"),
              ("sell", "product_name"), ("auth", "username"), ("auth", "password"),
              ("auth", "token"), ("delete_user", "password"), ("products", "seller_uid"),
              ("products", "name"), ("products", "after"), ("change_password", "password"),
              ("change_password", "new_password")]


@pytest.mark.parametrize("op,name", STR_FIELDS)
@pytest.mark.parametrize("value", [b"abcdefghij", 12345678, True, ["abcdefghij"]])
def test_strings_must_be_strings(op: str, name: str, value: Any) -> None:
    bad({**VALID[op], name: value}, name)


@pytest.mark.parametrize("value", [b"r1", 1, True, "", "x" * 65])
def test_req_id_type_and_bounds(value: Any) -> None:
    bad({**VALID["deposit"], "req_id": value}, "req_id")


def test_req_id_bounds_accepted() -> None:
    assert parse_request({**VALID["ping"], "req_id": "r"}).req_id == "r"
    assert parse_request({**VALID["deposit"], "req_id": "x" * 64}).req_id == "x" * 64
    assert parse_request(VALID["deposit"]).req_id is None


@pytest.mark.parametrize("username", ["a", "A.b-c_9", "x" * 64])
def test_username_accepted(username: str) -> None:
    assert parse_request({**VALID["auth"], "username": username}).args["username"] == username


@pytest.mark.parametrize("username", ["", "x" * 65, "ann bob", "ann/", "änn", "ann\n", "a@b",
                                      "١٢٣"])
def test_username_rejected(username: str) -> None:
    bad({**VALID["auth"], "username": username}, "username")


@pytest.mark.parametrize("op", ["auth", "delete_user"])
def test_password_bounds(op: str) -> None:
    for ok in ("x" * 8, "x" * 256, "é" * 8):
        assert parse_request({**VALID[op], "password": ok}).args["password"] == ok
    for wrong in ("", "x" * 7, "x" * 257):
        bad({**VALID[op], "password": wrong}, "password")


@pytest.mark.parametrize("kind", ["new_buyer", "new_seller", "buyer", "seller"])
def test_auth_kinds_accepted(kind: str) -> None:
    assert parse_request({**VALID["auth"], "token": kind}).args["token"] == kind


@pytest.mark.parametrize("char", ["\x00", "\x07", "\x1b", "\n", "\t", "\x7f", "\x85", "\x9b",
                                  "\u200e", "\u200f", "\u202a", "\u202b", "\u202c",
                                  "\u202d", "\u202e", "\u2066", "\u2067", "\u2068",
                                  "\u2069"])
@pytest.mark.parametrize("update", [False, True])
def test_product_name_refuses_control_and_bidi_characters(char: str, update: bool) -> None:
    msg = {**VALID["sell"], "product_name": f"co{char}la"}
    if update:
        msg = {"op": "sell", "product_uid": "p1", "product_name": f"co{char}la", **CRED}
    bad(msg, "product_name")


@pytest.mark.parametrize("name", ["caf\u00e9 cr\u00e8me", "\u0645\u0627\u0621",  # Arabic, RTL
                                  "\U0001F964", "\u00a0nbsp"])
def test_product_name_keeps_other_unicode(name: str) -> None:
    assert parse_request({**VALID["sell"], "product_name": name}).args["product_name"] == name


@pytest.mark.parametrize("kind", ["", "admin", "Buyer", "new_admin"])
def test_auth_kind_rejected(kind: str) -> None:
    bad({**VALID["auth"], "token": kind}, "token")


def test_product_name_bounds() -> None:
    for ok in ("x", "x" * 100):
        assert parse_request({**VALID["sell"], "product_name": ok}).args["product_name"] == ok
    for wrong in ("", "x" * 101):
        bad({**VALID["sell"], "product_name": wrong}, "product_name")


@pytest.mark.parametrize("op", ["product", "buy", "delete_product"])
def test_product_uid_bounds(op: str) -> None:
    bad({**VALID[op], "product_uid": ""}, "product_uid")
    bad({**VALID[op], "product_uid": "p" * 65}, "product_uid")


def test_buy_amount_bounds() -> None:
    assert parse_request({**VALID["buy"], "amount": 1}).args["amount"] == 1
    assert parse_request({**VALID["buy"], "amount": 1_000_000}).args["amount"] == 1_000_000
    for wrong in (0, -1, 1_000_001):
        bad({**VALID["buy"], "amount": wrong}, "amount")


def test_coin_and_cost_values_are_left_to_the_rules() -> None:
    # WRONG_AMOUNT / WRONG_COST come after UNAUTHORIZED and the role checks,
    # so the parser must let integer values through.
    assert parse_request({**VALID["deposit"], "amount": 7}).args["amount"] == 7
    assert parse_request({**VALID["sell"], "cost": 7}).args["cost"] == 7
    assert parse_request({**VALID["sell"], "cost": 0}).args["cost"] == 0


# -- session credentials ------------------------------------------------------

@pytest.mark.parametrize("op", SESSION_OPS)
@pytest.mark.parametrize("name", ["wsess_uid", "token"])
@pytest.mark.parametrize("value", ["", None, "missing"])
def test_missing_or_empty_credential_is_unauthorized(op: str, name: str, value: Any) -> None:
    msg = dict(VALID[op])
    if value == "missing":
        del msg[name]
    else:
        msg[name] = value
    with pytest.raises(Unauthorized) as info:
        parse_request(msg)
    assert info.value.code == "UNAUTHORIZED"


@pytest.mark.parametrize("op", SESSION_OPS)
@pytest.mark.parametrize("name", ["wsess_uid", "token"])
@pytest.mark.parametrize("value", [b"tok", 5, True, ["tok"]])
def test_wrongly_typed_credential_is_bad_request(op: str, name: str, value: Any) -> None:
    bad({**VALID[op], name: value}, name)


def test_bad_request_beats_unauthorized() -> None:
    msg = {k: v for k, v in VALID["deposit"].items() if k not in CRED}
    bad({**msg, "amount": True}, "amount")
    bad({**VALID["deposit"], "wsess_uid": "", "token": 5}, "token")


def test_credentials_end_up_in_the_request() -> None:
    req = parse_request(VALID["buy"])
    assert (req.wsess_uid, req.token) == ("s_abc", "tok")


# -- sell shapes --------------------------------------------------------------

@pytest.mark.parametrize("name", ["product_name", "cost", "amount"])
def test_sell_create_needs_all_fields(name: str) -> None:
    bad({k: v for k, v in VALID["sell"].items() if k != name}, name)


def test_sell_create_amount_not_negative() -> None:
    bad({**VALID["sell"], "amount": -1}, "amount")
    assert parse_request({**VALID["sell"], "amount": 0}).args["amount"] == 0


def test_sell_update_needs_something_to_change() -> None:
    bad({"op": "sell", "product_uid": "p1", **CRED})
    for name, value in (("product_name", "x"), ("cost", 5), ("amount", -3), ("amount", 0)):
        req = parse_request({"op": "sell", "product_uid": "p1", name: value, **CRED})
        assert req.args[name] == value


def test_sell_amount_bounds() -> None:
    upd = {"op": "sell", "product_uid": "p1", **CRED}
    for wrong in (1_000_001, -1_000_001):
        bad({**upd, "amount": wrong}, "amount")
    assert parse_request({**upd, "amount": -1_000_000}).args["amount"] == -1_000_000


def test_unknown_fields_do_not_reach_args() -> None:
    req = parse_request({**VALID["ping"], "extra": 1})
    assert "extra" not in req.args


# -- fingerprints ---------------------------------------------------------------

def fp(msg: dict[str, Any]) -> str:
    return parse_request(msg).fingerprint()


def test_fingerprint_ignores_secrets_and_session() -> None:
    base = {**VALID["deposit"], "req_id": "r1"}
    assert fp(base) == fp({**base, "wsess_uid": "s_other", "token": "other"})
    assert fp(VALID["delete_user"]) == fp({**VALID["delete_user"], "password": "different1"})
    assert fp(VALID["auth"]) == fp({**VALID["auth"], "password": "different1"})


def test_fingerprint_ignores_req_id() -> None:
    assert fp({**VALID["deposit"], "req_id": "a"}) == fp({**VALID["deposit"], "req_id": "b"})


@pytest.mark.parametrize("msg,change", [
    (VALID["deposit"], {"amount": 10}),
    (VALID["buy"], {"amount": 2}),
    (VALID["buy"], {"product_uid": "p2"}),
    (VALID["sell"], {"cost": 40}),
    (VALID["sell"], {"product_name": "water"}),
    (VALID["auth"], {"username": "bob"}),
    (VALID["auth"], {"token": "buyer"}),
    (VALID["reset"], {"op": "logout"}),
])
def test_fingerprint_differs_when_a_field_differs(msg: dict[str, Any],
                                                   change: dict[str, Any]) -> None:
    assert fp(msg) != fp({**msg, **change})


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_a_fingerprint_is_worked_out_once_for_requests_that_share_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    texts = encodes_seen(monkeypatch, requests, "canonical", jsontext.canonical)
    remembered: dict[Any, str] = {}
    monkeypatch.setattr(requests, "_FINGERPRINTS", remembered)
    one = Request("deposit", {"amount": 5, "token": "t1"})
    first = one.fingerprint()
    again = Request("deposit", {"amount": 5, "token": "t2"}).fingerprint()
    assert first == again == _sha('["deposit",{"amount":5}]') and len(texts) == 1
    # Another op with the same fields is another request.
    assert Request("buy", {"amount": 5}).fingerprint() == _sha('["buy",{"amount":5}]')
    assert len(texts) == 2
    remembered.clear()
    assert one.fingerprint() == first and len(texts) == 2  # kept by the request itself


def test_values_one_dict_key_would_take_keep_their_own_fingerprints(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # 1, True and 1.0 are equal as dict keys but not as JSON.
    monkeypatch.setattr(requests, "_FINGERPRINTS", {})
    got = [Request("deposit", {"amount": v}).fingerprint() for v in (1, True, 1.0, 1, True)]
    one, true, real = (_sha(f'["deposit",{{"amount":{t}}}]') for t in ("1", "true", "1.0"))
    assert got == [one, true, real, one, true]
    listed = Request("deposit", {"amount": [5]})
    assert listed.fingerprint() == _sha('["deposit",{"amount":[5]}]')  # not remembered


def test_remembered_fingerprints_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    kept: dict[Any, str] = {}
    monkeypatch.setattr(requests, "_FINGERPRINTS", kept)
    monkeypatch.setattr(requests, "FINGERPRINTS_KEPT", 3)
    sizes = []
    for amount in range(7):
        Request("deposit", {"amount": amount}).fingerprint()
        sizes.append(len(kept))
    assert sizes == [1, 2, 3, 1, 2, 3, 1]


def test_fingerprint_tells_update_from_create() -> None:
    create = {**VALID["sell"], "amount": 5}
    update = {"op": "sell", "product_uid": "p1", "amount": 5, **CRED}
    assert fp(create) != fp(update)


@pytest.mark.parametrize("op", ["logout", "logout_all"])
def test_fingerprint_of_a_logout_names_its_session(op: str) -> None:
    # logout's effect is on the calling session: the same req_id from another
    # session is a different request, not a retry (docs/protocol.md §3-4)
    base = {**VALID[op], "req_id": "r1"}
    assert fp(base) != fp({**base, "wsess_uid": "s_other"})
    assert fp(base) == fp({**base, "token": "a new token"})


@pytest.mark.parametrize("op,name,value", [
    ("history", "limit", 0), ("history", "limit", 101), ("history", "before", 0),
    ("history", "before", 2**63), ("products", "limit", 0), ("products", "limit", 1001),
    ("products", "name", ""), ("products", "name", "x" * 101), ("products", "after", ""),
    ("change_password", "new_password", "short"), ("change_password", "new_password", "x" * 257),
    ("change_password", "password", "short"),
])
def test_new_ops_bounds(op: str, name: str, value: Any) -> None:
    bad({**VALID[op], name: value}, name)


@pytest.mark.parametrize("op,name,value", [
    ("history", "limit", 1), ("history", "limit", 100), ("history", "before", 1),
    ("history", "before", 2**63 - 1), ("products", "limit", 1), ("products", "limit", 1000),
    ("products", "name", "x" * 100), ("change_password", "new_password", "x" * 8),
    ("change_password", "new_password", "x" * 256),
])
def test_new_ops_bounds_accepted(op: str, name: str, value: Any) -> None:
    assert parse_request({**VALID[op], name: value}).args[name] == value


def test_new_password_is_no_part_of_the_fingerprint() -> None:
    """A fast hash of a password must never be stored with a kept reply."""
    one = parse_request({**VALID["change_password"], "req_id": "r"})
    other = parse_request({**VALID["change_password"], "new_password": "another one",
                           "password": "another two", "req_id": "r"})
    assert one.fingerprint() == other.fingerprint()
