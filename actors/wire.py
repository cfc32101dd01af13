"""The fifo messages: msgpack maps with a `k` (kind) and a return ticket.

A return ticket `rt` is `[status_endpoint, wsess_uid, seq]`: where the status
must go, which session it belongs to ("" for a request with no session, where
`seq` is the front door's ticket), and which of that session's requests.
Carrying the endpoint lets several front doors share one gatekeeper.
"""

from __future__ import annotations

from typing import Any

from vending.errors import BadRequest
from vending.ops import FIFO_FOR_OP, ROLES_FOR_OP
from vending.requests import Request, parse_request

__all__ = ["FIFO_FOR_OP", "ROLES_FOR_OP", "read_request", "request_message", "status_message"]


def request_message(kind: str, rt: list[Any], request: Request,
                    peer: str | None = None, deadline: float = 0.0) -> dict[str, Any]:
    """A client request on its first hop. `dl` is when the front door gives up on it:
    work found in a fifo after that (a backlog that waited for a dead role) is dropped,
    not applied behind the client's back; its retry, same req_id, is applied fresh."""
    msg: dict[str, Any] = {"k": kind, "rt": rt, "req": request.to_dict()}
    if peer:
        msg["peer"] = peer
    if deadline:
        msg["dl"] = deadline
    return msg


def status_message(rt: list[Any], reply: dict[str, Any], ended: bool = False) -> dict[str, Any]:
    return {"rt": rt, "reply": reply, "ended": ended}


def read_request(message: dict[str, Any], trusted: bool = False) -> Request:
    """The request a fifo message carries.

    Checked again where it lands when the fifo may cross a process boundary
    (tcp://). An inproc:// fifo can only be written by this process's own front
    door, which checked it already: `trusted` skips the second check (profiled
    at 7% of the CPU of a purchase).
    """
    req = message.get("req")
    if not isinstance(req, dict):
        raise BadRequest("internal message carries no request")
    if trusted:
        args = {k: v for k, v in req.items() if k not in ("op", "req_id")}
        return Request(req["op"], args, req.get("req_id"))
    return parse_request(req)

