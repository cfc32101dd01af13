"""The codec: what it encodes comes back equal; hostile bytes raise DecodeError only."""

from __future__ import annotations

import contextlib
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transport.codec import DecodeError, decode, decode_map, encode, packer

_leaves = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**64 - 1), st.text(),
                    st.binary(), st.floats(allow_nan=False))
_values = st.recursive(_leaves, lambda inner: st.lists(inner, max_size=5)
                       | st.dictionaries(st.text(max_size=10), inner, max_size=5),
                       max_leaves=20)
_maps = st.dictionaries(st.text(max_size=20), _values, max_size=10)


@given(message=_maps)
def test_every_map_round_trips(message: dict[str, Any]) -> None:
    assert decode_map(encode(message)) == message


@given(message=_maps)
def test_a_threads_bound_packer_writes_what_encode_writes(message: dict[str, Any]) -> None:
    assert packer()(message) == encode(message)


@settings(max_examples=500)
@given(data=st.binary(max_size=2048))
def test_arbitrary_bytes_raise_decode_error_or_decode(data: bytes) -> None:
    # Any exception other than DecodeError fails the test: it is the only one
    # hostile input may raise.
    with contextlib.suppress(DecodeError):
        decode(data)


@pytest.mark.parametrize("data, why", [
    (msgpack.packb([1, 2, 3]), "request must be a msgpack map"),
    (msgpack.packb({1: "x"}), "not valid msgpack"),
    (msgpack.packb({"a": msgpack.ExtType(1, b"x")}), "ext types"),
    (b"\x91" * 100_000 + b"\xc0", "over the"),  # deep nesting, and too big
    (b"\xdd\xff\xff\xff\xff", "not valid msgpack"),  # claims a 4-billion-item array
    (b"\xc1", "not valid msgpack"),  # never-used byte
    (msgpack.packb({"op": "x" * 70_000}), "over the"),
])
def test_hostile_frames_name_their_fault(data: bytes, why: str) -> None:
    with pytest.raises(DecodeError, match=why):
        decode_map(data)


def test_deep_nesting_within_the_size_limit_is_refused() -> None:
    with pytest.raises(DecodeError, match="not valid msgpack"):
        decode(b"\x91" * 60_000 + b"\xc0")
