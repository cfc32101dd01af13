"""What crosses the fifos: typed messages, msgpack maps on the wire.

Each message is a frozen dataclass registered with its kind (`@_message("kind")`);
its fields are named once, there. One generic codec, driven by the dataclass
fields and their types, writes a message as a map (`to_wire`: its kind under `k`,
each field under its own name, nested dataclasses as maps, None left out) and reads
any map back into exactly one message or raises `BadMessage` (`from_wire`).

A client request travels with a `ReturnTicket`: where its status must go (a front
door's status fifo: several front doors may share one gatekeeper), which session
it belongs to, and the front door's ticket. Replies to clients cross the fifos as
`Reply` fields: maps checked to have the reply shape of docs/protocol.md §3.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import (
    Annotated,
    Any,
    ClassVar,
    TypeVar,
    Union,
    get_args,
    get_origin,
    get_type_hints,
)

from vending.authority import Grant
from vending.errors import VendingError
from vending.ops import FIFO_FOR_OP, ROLES_FOR_OP
from vending.purchase import ChargeStep
from vending.records import quick_init, slot_setters
from vending.requests import Request, parse_request

__all__ = [
    "FIFO_FOR_OP", "ROLES_FOR_OP", "Alive", "Authorize", "Authorized", "BadMessage", "Charge",
    "Charged", "ClientRequest", "Heartbeat", "Message", "Purge", "Purged", "Reply", "Resolve",
    "Resolved", "ReturnTicket", "Status", "from_wire",
]

#: A client's final reply as it crosses a fifo: `{"ok": true, ...}`, or
#: `{"ok": false, "error": CODE, "message": TEXT}` (docs/protocol.md §3).
Reply = Annotated[dict[str, Any], "reply"]


class BadMessage(ValueError):
    """A fifo message that is not one of ours (malformed, or from a stranger)."""


class _Mistyped(Exception):
    """A field's value is not of its type (turned into a BadMessage naming the field)."""


# -- the messages ------------------------------------------------------------------

@quick_init
@dataclass(frozen=True, slots=True)
class ReturnTicket:
    status_fifo: str  # the status fifo of the front door that holds the client
    wsess: str        # the session, "" for requests with none (products, product)
    ticket: int       # the front door's ticket for the client's request


_KINDS: dict[str, type[Any]] = {}
_T = TypeVar("_T", bound=type)


def _message(kind: str) -> Callable[[_T], _T]:
    def register(cls: _T) -> _T:
        setattr(cls, "kind", kind)  # noqa: B010 - set on any class the decorator is given
        _KINDS[kind] = cls
        return cls
    return register


class _Wire:
    """`to_wire` for every message (a mixin: the dataclasses define only fields)."""

    __slots__ = ()
    kind: ClassVar[str]

    def to_wire(self) -> dict[str, Any]:
        return _ENCODERS[type(self)](self, {"k": self.kind})


@_message("request")
@quick_init
@dataclass(frozen=True, slots=True)
class ClientRequest(_Wire):
    """A client's request on its first hop, from a front door to the owner's fifo.

    `deadline` (time.time()) is when the front door gives up on it: work found
    in a fifo after that (a backlog that waited for a dead role) is dropped,
    not applied behind the client's back; its retry, same req_id, runs fresh.
    """

    rt: ReturnTicket
    request: Request
    peer: str | None = None
    deadline: float = 0.0


@_message("status")
@quick_init
@dataclass(frozen=True, slots=True)
class Status(_Wire):
    """The final reply to a client request, on its way back to the front door."""

    rt: ReturnTicket
    reply: Reply
    ended: bool = False  # the session that sent it is over


@_message("hb")
@quick_init
@dataclass(frozen=True, slots=True)
class Heartbeat(_Wire):
    """A front door asking a role to show it is alive, on `back`."""

    back: str


@_message("alive")
@quick_init
@dataclass(frozen=True, slots=True)
class Alive(_Wire):
    """A role's answer to a heartbeat, with what the `health` op reports of it:
    its storage (`"ok"` / `"failing"`), its events' last seq and, for the
    gatekeeper, its live sessions (-1: not told)."""

    role: str
    storage: str = "ok"
    last_seq: int = -1
    sessions: int = -1


@_message("authorize")
@quick_init
@dataclass(frozen=True, slots=True)
class Authorize(_Wire):
    """Stock handler -> gatekeeper: may this session call `request`'s op (its row's
    `caller`, vending/ops.py)?"""

    rt: ReturnTicket
    request: Request
    back: str


@_message("authorized")
@quick_init
@dataclass(frozen=True, slots=True)
class Authorized(_Wire):
    """Gatekeeper -> stock handler: the grant, or the final reply that refuses (or
    replays) the request."""

    rt: ReturnTicket
    request: Request
    grant: Grant | None = None
    reply: Reply | None = None


@_message("charge")
@quick_init
@dataclass(frozen=True, slots=True)
class Charge(_Wire):
    """Purchase step 2, stock handler -> gatekeeper: units are held (or why not)."""

    step: ChargeStep
    rt: ReturnTicket
    back: str


@_message("charged")
@quick_init
@dataclass(frozen=True, slots=True)
class Charged(_Wire):
    """Purchase step 2's answer, gatekeeper -> stock handler, with the client's reply."""

    pid: str
    rt: ReturnTicket
    committed: bool
    reply: Reply


@_message("resolve")
@quick_init
@dataclass(frozen=True, slots=True)
class Resolve(_Wire):
    """Recovery, stock handler -> gatekeeper: was purchase `pid` charged?"""

    pid: str
    back: str


@_message("resolved")
@quick_init
@dataclass(frozen=True, slots=True)
class Resolved(_Wire):
    """Recovery's answer: charged (settle as sold), or fenced off for good."""

    pid: str
    committed: bool


@_message("purge")
@quick_init
@dataclass(frozen=True, slots=True)
class Purge(_Wire):
    """Gatekeeper -> stock handler: a deleted seller's products must go."""

    account_id: int
    back: str


@_message("purged")
@quick_init
@dataclass(frozen=True, slots=True)
class Purged(_Wire):
    account_id: int


Message = (ClientRequest | Status | Heartbeat | Alive | Authorize | Authorized | Charge
           | Charged | Resolve | Resolved | Purge | Purged)


# -- the codec -----------------------------------------------------------------------
# One encoder and one decoder per dataclass, generated once from its fields and their
# types: as fast as hand-written ones (they run for every fifo message), written once.

Encoder = Callable[[Any, dict[str, Any]], dict[str, Any]]
Decoder = Callable[[Any, bool], Any]
_ENCODERS: dict[type, Encoder] = {}
_DECODERS: dict[type, Decoder] = {}


def _request(value: Any, trusted: bool) -> Request:
    """A carried client request.

    Checked again where it lands when the fifo may cross a process boundary
    (tcp://). An inproc:// fifo can only be written by this process's own front
    door, which checked it already: `trusted` skips the second check (profiled
    at 7% of the CPU of a purchase).
    """
    if type(value) is not dict:
        raise _Mistyped
    if trusted:
        # The map is this message's own, just decoded: what is left of it once its
        # op and req_id are taken out is the request's args (no copy).
        op, req_id = value.pop("op"), value.pop("req_id", None)
        return Request(op, value, req_id)
    try:
        return parse_request(value)
    except VendingError as exc:
        raise BadMessage(f"carried request is invalid: {exc.message}") from None


def _reply(value: Any, trusted: bool) -> dict[str, Any]:
    """A client's reply: a map with a bool `ok`; a failure names its code and why."""
    if type(value) is not dict or type(value.get("ok")) is not bool:
        raise _Mistyped
    if not value["ok"] and not (type(value.get("error")) is str
                                and type(value.get("message")) is str):
        raise _Mistyped
    return value


def _map(value: Any, trusted: bool) -> dict[str, Any]:
    if type(value) is not dict:
        raise _Mistyped
    return value


def _float(value: Any, trusted: bool) -> float:
    if type(value) not in (int, float):
        raise _Mistyped
    return float(value)


#: Field types read by an exact type test, inline in the generated decoder.
_EXACT = {str: "str", int: "int", bool: "bool"}


def _plain(tp: Any) -> tuple[Any, bool]:
    """The field type without `| None`, and whether None is allowed."""
    if get_origin(tp) in (Union, types.UnionType):
        inner = [a for a in get_args(tp) if a is not type(None)]
        return inner[0], True
    return tp, False


def _reader(tp: Any) -> Decoder:
    if get_origin(tp) is Annotated:
        return _reply
    if tp is Request:
        return _request
    if tp is float:
        return _float
    if get_origin(tp) is dict:
        return _map
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _codec(tp)
    raise TypeError(f"no wire reader for {tp!r}")


def _codec(cls: type) -> Decoder:
    """Generate `cls`'s encoder and decoder (once); return the decoder."""
    if cls in _DECODERS:
        return _DECODERS[cls]
    # vending/purchase.py names Request for type checking only: give it here.
    hints = get_type_hints(cls, localns={"Request": Request}, include_extras=True)
    env: dict[str, Any] = {"cls": cls, "BadMessage": BadMessage, "_Mistyped": _Mistyped,
                           "_ENCODERS": _ENCODERS, "str": str, "int": int, "bool": bool}
    enc = ["def encode(obj, out):"]
    # A refusal names the message's kind, looked up only then (not per message).
    kind = "{m.get('k', cls.__name__)!r}"
    dec = ["def decode(m, trusted):",
           "    if type(m) is not dict:",
           "        raise _Mistyped"]
    names = []
    for n, f in enumerate(dataclasses.fields(cls)):
        tp, optional = _plain(hints[f.name])
        name, var = f.name, f"v{n}"
        names.append(var)
        # -- encode: None left out, a Request as its map, a nested dataclass as a map
        if tp is Request:
            conv = f"obj.{name}.to_dict()"
        elif isinstance(tp, type) and dataclasses.is_dataclass(tp):
            _codec(tp)
            env[f"E{n}"] = tp
            conv = f"_ENCODERS[E{n}](obj.{name}, {{}})"
        else:
            conv = f"obj.{name}"
        if optional or f.default is None:
            enc += [f"    if obj.{name} is not None:", f"        out[{name!r}] = {conv}"]
        else:
            enc.append(f"    out[{name!r}] = {conv}")
        # -- decode: missing -> the default (or refused), then the type's test
        dec += [f"    {var} = m.get({name!r})", f"    if {var} is None:"]
        if f.default is not dataclasses.MISSING:
            env[f"D{n}"] = f.default
            dec.append(f"        {var} = D{n}")
        else:
            dec.append(f"        raise BadMessage(f\"{kind} message: {name} is missing\")")
        if tp in _EXACT:
            dec += [f"    elif type({var}) is not {_EXACT[tp]}:",
                    f"        raise BadMessage(f\"{kind} message: {name} is mistyped\")"]
        else:
            env[f"R{n}"] = _reader(tp)
            dec += ["    else:", "        try:",
                    f"            {var} = R{n}({var}, trusted)",
                    "        except _Mistyped:",
                    f"            raise BadMessage(f\"{kind} message: {name} is mistyped\")"
                    " from None"]
    enc.append("    return out")
    # Built as its (quick) __init__ would, without the call: every field is read
    # above, so each slot is set here (a message class must be slotted).
    env["new"] = object.__new__
    dec.append("    obj = new(cls)")
    for n, setter in enumerate(slot_setters(cls)):
        env[f"S{n}"] = setter
        dec.append(f"    S{n}(obj, {names[n]})")
    dec.append("    return obj")
    exec("\n".join(enc + dec), env)  # the source is built above from field names only
    _ENCODERS[cls], _DECODERS[cls] = env["encode"], env["decode"]
    decoder: Decoder = env["decode"]
    return decoder


_READERS: dict[str, Decoder] = {kind: _codec(cls) for kind, cls in _KINDS.items()}


def from_wire(m: dict[str, Any], trusted: bool = False) -> Message:
    """Read one fifo message. `trusted`: it came over inproc from our own front door;
    `m` is then the message's own (just decoded): its carried request's map becomes
    the request's args.

    Raises:
        BadMessage: it is not a well-formed message of ours.
    """
    kind = m.get("k")
    if not isinstance(kind, str):
        raise BadMessage("message has no kind")
    decode = _READERS.get(kind)
    if decode is None:
        raise BadMessage(f"unknown message kind {kind[:40]!r}")
    try:
        message: Message = decode(m, trusted)
    except _Mistyped:
        raise BadMessage(f"{kind!r} message is not a map") from None
    return message
