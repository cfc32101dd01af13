"""vending/jsontext.py: the stored and hashed JSON text is exactly `json.dumps`'s."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vending.jsontext import canonical, compact, compact_with

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20)


@given(_json)
def test_the_text_is_json_dumps_compact_and_sorted(value: Any) -> None:
    assert compact(value) == json.dumps(value, separators=(",", ":"))
    assert canonical(value) == json.dumps(value, sort_keys=True, separators=(",", ":"))


@given(st.dictionaries(st.text(), _json, max_size=4), st.text(), _json)
def test_a_map_with_one_more_last_key_is_the_text_of_the_whole_map(
        obj: dict[str, Any], key: str, value: Any) -> None:
    obj.pop(key, None)
    assert compact_with(compact(obj), key, value) == compact({**obj, key: value})


def test_one_more_key_on_an_empty_map_and_on_one_with_keys() -> None:
    assert compact_with("{}", "change", [5]) == '{"change":[5]}'
    assert compact_with('{"a":1}', "b\n", None) == '{"a":1,"b\\n":null}'


def test_what_json_cannot_hold_is_refused_as_json_dumps_does() -> None:
    with pytest.raises(TypeError, match="set is not JSON serializable"):
        compact({"a": {1}})
