"""msgpack in and out, with limits: hostile bytes raise `DecodeError` and nothing else."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import msgpack

from vending.limits import MAX_REQUEST_BYTES

__all__ = ["DecodeError", "array_header", "decode", "decode_map", "encode", "packer"]


class DecodeError(ValueError):
    """The bytes are not one msgpack map with string keys within our limits."""


def _no_ext(code: int, data: bytes) -> Any:
    raise DecodeError("msgpack ext types are not accepted")


#: One Packer per thread, reused: `msgpack.packb` builds one per call, which
#: profiled at half the cost of packing a fifo message.
_local = threading.local()


def _packer() -> msgpack.Packer:
    packer: msgpack.Packer | None = getattr(_local, "packer", None)
    if packer is None:
        packer = _local.packer = msgpack.Packer(use_bin_type=True)
    return packer


def packer() -> Callable[[Any], bytes]:
    """This thread's `encode`, bound once: for a part that encodes every message it
    sends in its own thread (the front door's replies), without the thread-local
    lookup and the call of `encode` per message."""
    pack: Callable[[Any], bytes] = _packer().pack
    return pack


def encode(message: dict[str, Any] | list[dict[str, Any]]) -> bytes:
    """One message, or a list of them as one msgpack array (the frame that
    `array_header` starts, in one call)."""
    return _packer().pack(message)  # type: ignore[no-any-return]


def array_header(count: int) -> bytes:
    """The msgpack header of an array of `count` items (the items' bytes follow)."""
    return _packer().pack_array_header(count)  # type: ignore[no-any-return]


def decode(data: bytes, max_bytes: int = MAX_REQUEST_BYTES) -> Any:
    """Decode one msgpack value, refusing anything larger than `max_bytes`."""
    if len(data) > max_bytes:
        raise DecodeError(f"frame of {len(data)} bytes is over the {max_bytes} byte limit")
    try:
        # Every length is bounded by the frame size already; the explicit
        # limits keep a small frame from claiming huge containers.
        return msgpack.unpackb(
            data, raw=False, strict_map_key=True, ext_hook=_no_ext, use_list=True,
            max_str_len=max_bytes, max_bin_len=max_bytes, max_array_len=4096,
            max_map_len=256, max_ext_len=max_bytes)  # so _no_ext can name the fault
    except DecodeError:
        raise
    except Exception as exc:  # noqa: BLE001 - msgpack raises many types: fold them into one
        raise DecodeError(f"not valid msgpack: {type(exc).__name__}") from None


def decode_map(data: bytes, max_bytes: int = MAX_REQUEST_BYTES) -> dict[str, Any]:
    value = decode(data, max_bytes)
    if not isinstance(value, dict):
        raise DecodeError("request must be a msgpack map")
    return value
