"""product_name by Unicode category (docs/protocol.md §6; vending/visible.py)."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vending.errors import BadRequest
from vending.limits import PRODUCT_NAME_MAX, unsafe_char
from vending.requests import parse_request
from vending.visible import INVISIBLE_FILLERS, name_fault

SELL = {"op": "sell", "wsess_uid": "w1", "token": "t" * 32, "cost": 10, "amount": 1}
FAMILY = "\U0001F468\u200d\U0001F469\u200d\U0001F467"  # man ZWJ woman ZWJ girl


def accepted(name: str) -> bool:
    try:
        return parse_request({**SELL, "product_name": name}).args["product_name"] == name
    except BadRequest as exc:
        assert "product_name" in exc.message, exc.message
        return False


@pytest.mark.parametrize("char", [
    "\u061c",      # ARABIC LETTER MARK (Cf), kin of the refused U+200E
    "\u2028",      # LINE SEPARATOR (Zl)
    "\u2029",      # PARAGRAPH SEPARATOR (Zp)
    "\u200b",      # ZERO WIDTH SPACE (Cf)
    "\ufeff",      # BYTE ORDER MARK (Cf)
    "\U000E0041",  # TAG LATIN CAPITAL LETTER A (Cf)
    "\ue000",      # private use (Co)
    "\U0010fffd",  # private use, plane 16 (Co)
    "\u0378",      # unassigned (Cn)
    "\u180e",      # MONGOLIAN VOWEL SEPARATOR (Cf)
    "\u2060",      # WORD JOINER (Cf)
    "\u00ad",      # SOFT HYPHEN (Cf)
    "\u200d",      # ZWJ between letters, not pictographs
    *sorted(INVISIBLE_FILLERS),
])
def test_refused_inside_a_name(char: str) -> None:
    assert not accepted(f"co{char}la")


@pytest.mark.parametrize("name", ["\u3164", "\u115f", "\uffa0", "\u2800", " ", "   ",
                                  "\u00a0\u3000", "\u0301", "\u3164\u3164"])
def test_a_name_must_show_something(name: str) -> None:
    assert not accepted(name)


@pytest.mark.parametrize("name", [
    FAMILY,                                         # emoji ZWJ sequence
    "\U0001F469\U0001F3FD\u200d\U0001F4BB",          # woman, skin tone, ZWJ, laptop
    "\u2764\ufe0f\u200d\U0001F525",                   # heart on fire (VS16 before the ZWJ)
    f"snack pack {FAMILY}",
    "caf\u00e9 cr\u00e8me", "\u0645\u0627\u0621", "\u00a0nbsp", "x", "co la",
    "\u0915\u094d\u0937",                             # Devanagari conjunct (a mark inside)
])
def test_accepted(name: str) -> None:
    assert accepted(name)


@pytest.mark.parametrize("name", ["\u200d\U0001F467", "\U0001F468\u200d", "a\u200d\U0001F467",
                                  "\U0001F468\u200d\u200d\U0001F467"])
def test_a_zwj_not_between_two_pictographs_is_refused(name: str) -> None:
    assert not accepted(name)


def test_the_message_names_the_character() -> None:
    with pytest.raises(BadRequest, match="U\\+2028"):
        parse_request({**SELL, "product_name": "co\u2028la"})


_REFUSED = {"Cc", "Cf", "Zl", "Zp", "Co", "Cn", "Cs"}


@given(st.text(min_size=1, max_size=PRODUCT_NAME_MAX))
def test_the_rule_by_category(text: str) -> None:
    """Accepted iff no refused category (ZWJ between pictographs aside), no filler,
    and something visible; refused names always say why."""
    fault = name_fault(text)
    if fault is None:
        assert all(unicodedata.category(ch) not in _REFUSED or ch == "\u200d" for ch in text)
        assert not INVISIBLE_FILLERS.intersection(text)
        assert any(unicodedata.category(ch)[0] in "LNPS" for ch in text)
    elif any(unicodedata.category(ch) in _REFUSED - {"Cf"} for ch in text):
        assert "U+" in fault


@given(st.text(st.characters(categories=("L", "N", "P", "S")), min_size=1, max_size=20)
       .filter(lambda t: not INVISIBLE_FILLERS.intersection(t)),
       st.text(st.characters(categories=("Zs",)), max_size=5))
def test_visible_text_with_spaces_is_accepted(visible: str, spaces: str) -> None:
    assert name_fault(spaces + visible + spaces) is None


@pytest.mark.parametrize(("char", "unsafe"), [
    ("\x07", True), ("\x7f", True), ("\n", True),          # controls (Cc)
    ("\u202e", True), ("\u2066", True), ("\u200f", True),  # bidi formatting (Cf)
    ("a", False), ("\u00e9", False), (" ", False), ("\u200d", False),  # ZWJ: Cf, not bidi
])
def test_unsafe_characters_are_controls_and_bidi_formatting(char: str, unsafe: bool) -> None:
    """What a client never prints raw (`vending.limits.unsafe_char`, docs/protocol.md §6)."""
    assert unsafe_char(char) is unsafe


def test_a_zwj_joins_pictographs_even_single_code_point_ones_and_never_a_lone_modifier() -> None:
    """docs/design.md reading 14: the ZWJ must have a pictograph before it, skipping VS16
    and skin-tone modifiers, and one after it; © and ® are pictographs of their own."""
    assert accepted("\u00a9\u200d\u00ae") and accepted("x\u2122\u200d\u3030")
    assert not accepted("\U0001F3FB\u200d\U0001F469")  # a modifier, and nothing before it
    assert accepted("\U0001F469\U0001F3FB\u200d\U0001F469")
