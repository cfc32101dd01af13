"""The codec's limits at their edges: the last size accepted, the first refused."""

from __future__ import annotations

import msgpack
import pytest

from transport.codec import DecodeError, decode, decode_map, encode
from vending.limits import MAX_REQUEST_BYTES


def test_a_frame_of_exactly_max_bytes_is_decoded_one_more_is_not() -> None:
    head = msgpack.packb({"op": "ping", "pad": ""})
    pad = "x" * (64 - len(head) - 1)  # str8 header: one byte more than fixstr's
    frame = msgpack.packb({"op": "ping", "pad": pad})
    assert decode(frame, max_bytes=len(frame)) == {"op": "ping", "pad": pad}
    with pytest.raises(DecodeError, match="over the"):
        decode(frame, max_bytes=len(frame) - 1)
    big = encode({"pad": "y" * (MAX_REQUEST_BYTES - 16)})
    assert len(big) <= MAX_REQUEST_BYTES and decode_map(big)["pad"][0] == "y"
    with pytest.raises(DecodeError, match="over the"):
        decode_map(encode({"pad": "y" * MAX_REQUEST_BYTES}))


@pytest.mark.parametrize(("build", "ok"), [
    (lambda: [0] * 4096, True), (lambda: [0] * 4097, False),
    (lambda: {f"k{i}": i for i in range(256)}, True),
    (lambda: {f"k{i}": i for i in range(257)}, False),
])
def test_container_limits(build: object, ok: bool) -> None:
    value = build()  # type: ignore[operator]
    frame = msgpack.packb(value)
    if ok:
        assert decode(frame) == value
    else:
        with pytest.raises(DecodeError, match="not valid msgpack"):
            decode(frame)


def test_bytes_stay_bytes_and_strings_stay_strings() -> None:
    message = {"blob": b"\x00\xff", "text": "h\u00e9"}
    assert decode(encode(message)) == message
    assert isinstance(decode(encode(message))["blob"], bytes)


def test_map_keys_must_be_strings() -> None:
    with pytest.raises(DecodeError):
        decode(msgpack.packb({1: "x"}))
