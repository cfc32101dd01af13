"""What crosses the fifos: typed messages, msgpack maps on the wire.

Each message is a frozen dataclass with `to_wire()` (a map with its kind `k`)
and a reader in `from_wire`, which turns any map into exactly one message or
raises `BadMessage`. A client request travels with a `ReturnTicket`: where its
status must go (a front door's status fifo: several front doors may share one
gatekeeper), which session it belongs to, and the front door's ticket.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from vending.errors import VendingError
from vending.ops import FIFO_FOR_OP, OPS, ROLES_FOR_OP
from vending.purchase import ChargeStep
from vending.requests import Request, parse_request

__all__ = [
    "FIFO_FOR_OP", "ROLES_FOR_OP", "Alive", "Authorize", "Authorized", "BadMessage", "Charge",
    "Charged", "ClientRequest", "Heartbeat", "Message", "Purge", "Purged", "Resolve", "Resolved",
    "ReturnTicket", "Status", "from_wire",
]

class BadMessage(ValueError):
    """A fifo message that is not one of ours (malformed, or from a stranger)."""


def _field(m: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = m.get(name)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise BadMessage(f"{m.get('k')!r} message: {name} is missing or mistyped")
    return value


def _reply(m: dict[str, Any], name: str = "reply") -> dict[str, Any]:
    reply: dict[str, Any] = _field(m, name, dict)
    return reply


def _request(m: dict[str, Any], trusted: bool) -> Request:
    """The client request a message carries.

    Checked again where it lands when the fifo may cross a process boundary
    (tcp://). An inproc:// fifo can only be written by this process's own front
    door, which checked it already: `trusted` skips the second check (profiled
    at 7% of the CPU of a purchase).
    """
    req = _field(m, "req", dict)
    if trusted:
        args = {k: v for k, v in req.items() if k not in ("op", "req_id")}
        return Request(req["op"], args, req.get("req_id"))
    try:
        return parse_request(req)
    except VendingError as exc:
        raise BadMessage(f"carried request is invalid: {exc.message}") from None


@dataclass(frozen=True, slots=True)
class ReturnTicket:
    status: str  # the status fifo of the front door that holds the client
    wsess: str   # the session, "" for requests with none (products, product)
    ticket: int  # the front door's ticket for the client's request

    def to_wire(self) -> list[Any]:
        return [self.status, self.wsess, self.ticket]

    @classmethod
    def from_wire(cls, value: Any) -> ReturnTicket:
        if not (isinstance(value, list) and len(value) == 3 and isinstance(value[0], str)
                and isinstance(value[1], str) and isinstance(value[2], int)):
            raise BadMessage("return ticket is malformed")
        return cls(value[0], value[1], value[2])


@dataclass(frozen=True, slots=True)
class ClientRequest:
    """A client's request on its first hop, from a front door to the owner's fifo.

    `deadline` (time.time()) is when the front door gives up on it: work found
    in a fifo after that (a backlog that waited for a dead role) is dropped,
    not applied behind the client's back; its retry, same req_id, runs fresh.
    """

    rt: ReturnTicket
    request: Request
    peer: str | None = None
    deadline: float = 0.0

    def to_wire(self) -> dict[str, Any]:
        m: dict[str, Any] = {"k": self.request.op, "rt": self.rt.to_wire(),
                             "req": self.request.to_dict()}
        if self.peer:
            m["peer"] = self.peer
        if self.deadline:
            m["dl"] = self.deadline
        return m


@dataclass(frozen=True, slots=True)
class Status:
    """The final reply to a client request, on its way back to the front door."""

    kind: ClassVar[str] = "status"
    rt: ReturnTicket
    reply: dict[str, Any]
    ended: bool = False  # the session that sent it is over

    def to_wire(self) -> dict[str, Any]:
        return {"k": self.kind, "rt": self.rt.to_wire(), "reply": self.reply,
                "ended": self.ended}


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """A front door asking a role to show it is alive, on `back`."""

    kind: ClassVar[str] = "hb"
    back: str

    def to_wire(self) -> dict[str, Any]:
        return {"k": self.kind, "back": self.back}


@dataclass(frozen=True, slots=True)
class Alive:
    """A role's answer to a heartbeat."""

    kind: ClassVar[str] = "alive"
    role: str

    def to_wire(self) -> dict[str, Any]:
        return {"k": self.kind, "role": self.role}


@dataclass(frozen=True, slots=True)
class Authorize:
    """Stock handler -> gatekeeper: may this session do `request` as `role`?"""

    kind: ClassVar[str] = "authorize"
    rt: ReturnTicket
    request: Request
    role: str
    back: str

    def to_wire(self) -> dict[str, Any]:
        return {"k": self.kind, "rt": self.rt.to_wire(), "req": self.request.to_dict(),
                "role": self.role, "back": self.back}


@dataclass(frozen=True, slots=True)
class Authorized:
    """Gatekeeper -> stock handler: who may (account_id, user_uid, replay_only), or
    the final reply that refuses (or replays) the request."""

    kind: ClassVar[str] = "authorized"
    rt: ReturnTicket
    request: Request
    who: tuple[int, str, bool] | None = None
    reply: dict[str, Any] | None = None

    def to_wire(self) -> dict[str, Any]:
        m: dict[str, Any] = {"k": self.kind, "rt": self.rt.to_wire(),
                             "req": self.request.to_dict()}
        if self.who is not None:
            m["who"] = list(self.who)
        if self.reply is not None:
            m["reply"] = self.reply
        return m


@dataclass(frozen=True, slots=True)
class Charge:
    """Purchase step 2, stock handler -> gatekeeper: units are held (or why not)."""

    kind: ClassVar[str] = "charge"
    pid: str
    rt: ReturnTicket
    request: Request
    back: str
    product_name: str = ""
    cost: int = 0
    stock_error: dict[str, Any] | None = None

    @classmethod
    def of(cls, step: ChargeStep, rt: ReturnTicket, back: str) -> Charge:
        return cls(step.pid, rt, step.request, back, step.product_name, step.cost,
                   step.stock_error)

    @property
    def step(self) -> ChargeStep:
        return ChargeStep(self.pid, self.request, self.product_name, self.cost,
                          self.stock_error)

    def to_wire(self) -> dict[str, Any]:
        m: dict[str, Any] = {"k": self.kind, "pid": self.pid, "rt": self.rt.to_wire(),
                             "req": self.request.to_dict(), "back": self.back,
                             "product_name": self.product_name, "cost": self.cost}
        if self.stock_error is not None:
            m["stock_error"] = self.stock_error
        return m


@dataclass(frozen=True, slots=True)
class Charged:
    """Purchase step 2's answer, gatekeeper -> stock handler, with the client's reply."""

    kind: ClassVar[str] = "charged"
    pid: str
    rt: ReturnTicket
    committed: bool
    reply: dict[str, Any]

    def to_wire(self) -> dict[str, Any]:
        return {"k": self.kind, "pid": self.pid, "rt": self.rt.to_wire(),
                "committed": self.committed, "reply": self.reply}


@dataclass(frozen=True, slots=True)
class Resolve:
    """Recovery, stock handler -> gatekeeper: was purchase `pid` charged?"""

    kind: ClassVar[str] = "resolve"
    pid: str
    back: str

    def to_wire(self) -> dict[str, Any]:
        return {"k": self.kind, "pid": self.pid, "back": self.back}


@dataclass(frozen=True, slots=True)
class Resolved:
    """Recovery's answer: charged (settle as sold), or fenced off for good."""

    kind: ClassVar[str] = "resolved"
    pid: str
    committed: bool

    def to_wire(self) -> dict[str, Any]:
        return {"k": self.kind, "pid": self.pid, "committed": self.committed}


@dataclass(frozen=True, slots=True)
class Purge:
    """Gatekeeper -> stock handler: a deleted seller's products must go."""

    kind: ClassVar[str] = "purge"
    account_id: int
    back: str

    def to_wire(self) -> dict[str, Any]:
        return {"k": self.kind, "account_id": self.account_id, "back": self.back}


@dataclass(frozen=True, slots=True)
class Purged:
    kind: ClassVar[str] = "purged"
    account_id: int

    def to_wire(self) -> dict[str, Any]:
        return {"k": self.kind, "account_id": self.account_id}


Message = (ClientRequest | Status | Heartbeat | Alive | Authorize | Authorized | Charge
           | Charged | Resolve | Resolved | Purge | Purged)


def _who(m: dict[str, Any]) -> tuple[int, str, bool] | None:
    who = m.get("who")
    if who is None:
        return None
    if not (isinstance(who, list) and len(who) == 3 and isinstance(who[0], int)
            and isinstance(who[1], str) and isinstance(who[2], bool)):
        raise BadMessage("authorized message: who is malformed")
    return who[0], who[1], who[2]


_READERS: dict[str, Callable[[dict[str, Any], bool], Message]] = {
    "status": lambda m, t: Status(ReturnTicket.from_wire(m.get("rt")), _reply(m),
                                  bool(m.get("ended"))),
    "hb": lambda m, t: Heartbeat(_field(m, "back", str)),
    "alive": lambda m, t: Alive(_field(m, "role", str)),
    "authorize": lambda m, t: Authorize(ReturnTicket.from_wire(m.get("rt")), _request(m, t),
                                        _field(m, "role", str), _field(m, "back", str)),
    "authorized": lambda m, t: Authorized(
        ReturnTicket.from_wire(m.get("rt")), _request(m, t), _who(m),
        _reply(m) if m.get("reply") is not None else None),
    "charge": lambda m, t: Charge(
        _field(m, "pid", str), ReturnTicket.from_wire(m.get("rt")), _request(m, t),
        _field(m, "back", str), _field(m, "product_name", str), _field(m, "cost", int),
        _reply(m, "stock_error") if m.get("stock_error") is not None else None),
    "charged": lambda m, t: Charged(_field(m, "pid", str), ReturnTicket.from_wire(m.get("rt")),
                                    _field(m, "committed", bool), _reply(m)),
    "resolve": lambda m, t: Resolve(_field(m, "pid", str), _field(m, "back", str)),
    "resolved": lambda m, t: Resolved(_field(m, "pid", str), _field(m, "committed", bool)),
    "purge": lambda m, t: Purge(_field(m, "account_id", int), _field(m, "back", str)),
    "purged": lambda m, t: Purged(_field(m, "account_id", int)),
}


def _client_request(m: dict[str, Any], trusted: bool) -> ClientRequest:
    request = _request(m, trusted)
    if request.op != m.get("k"):
        raise BadMessage(f"{m.get('k')!r} message carries a {request.op!r} request")
    peer, deadline = m.get("peer"), m.get("dl", 0.0)
    return ClientRequest(ReturnTicket.from_wire(m.get("rt")), request,
                         peer if isinstance(peer, str) else None,
                         float(deadline) if isinstance(deadline, (int, float)) else 0.0)


def from_wire(m: dict[str, Any], trusted: bool = False) -> Message:
    """Read one fifo message. `trusted`: it came over inproc from our own front door.

    Raises:
        BadMessage: it is not a well-formed message of ours.
    """
    kind = m.get("k")
    if not isinstance(kind, str):
        raise BadMessage("message has no kind")
    reader = _READERS.get(kind)
    if reader is not None:
        return reader(m, trusted)
    if kind in OPS:
        return _client_request(m, trusted)
    raise BadMessage(f"unknown message kind {kind[:40]!r}")

