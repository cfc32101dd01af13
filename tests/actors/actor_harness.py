"""Tier 2 without threads: actors built, never started, handlers driven directly.

An actor's loop is never started here, so nothing runs in another thread: a
test calls `on_receive` itself, as the loop would, and reads what the actor
sent from a fake outbox (`Outbox`, standing in for its PUSH sockets).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any

from actors.config import Config
from actors.env import REAL, Env
from actors.messages import Batch
from actors.wire import ClientRequest, Message, ReturnTicket, from_wire
from transport.loop import EventLoop, Timer
from vending.call import Call
from vending.db import Database
from vending.requests import parse_request

CONFIG = Config(data_dir=":memory:", binds=())
ENDS = CONFIG.endpoints
PASSWORD = "correct horse battery"


class Outbox:
    """Stands in for an actor's `Pushers`: keeps what it sends, by endpoint."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Message]] = []

    def send(self, endpoint: str, message: dict[str, Any]) -> None:
        # Through the wire form, as a real fifo would carry it.
        self.sent.append((endpoint, from_wire(message)))

    def take(self, endpoint: str | None = None) -> list[Message]:
        """What went to `endpoint` (or anywhere) since the last take."""
        taken = [m for e, m in self.sent if endpoint is None or e == endpoint]
        self.sent = [(e, m) for e, m in self.sent if not (endpoint is None or e == endpoint)]
        return taken

    def close(self) -> None:
        pass


def build(actor_cls: type[Any], config: Config = CONFIG, env: Env = REAL,
          loop: EventLoop | None = None) -> Any:
    """An actor with its database and outbox, as `on_start` would leave it; no thread.
    `loop`: an unstarted one the test reads (`Timers`)."""
    loop = loop or EventLoop(f"unstarted-{actor_cls.role}")  # never started: no thread
    actor = actor_cls(loop, None, None, config, lambda role: None, env=env)
    actor.open(Database(None, actor_cls.schema), Outbox())
    actor.schedule_upkeep()  # as `on_start` does
    return actor


_tickets = iter(range(1, 1_000_000))


def request(op: str, cred: dict[str, Any] | None = None, peer: str | None = None,
            deadline: float = 0.0, **fields: Any) -> ClientRequest:
    """A client request as a front door forwards it (in `cred`'s session, from `peer`)."""
    msg = {"op": op, **fields}
    if cred is not None:
        msg.update(wsess_uid=cred["wsess_uid"], token=cred["token"])
    wsess = cred["wsess_uid"] if cred else ""
    return ClientRequest(ReturnTicket(ENDS.status, wsess, next(_tickets)), parse_request(msg),
                         peer, deadline)


def register(gatekeeper: Any, role: str, name: str) -> dict[str, Any]:
    """An account and a session, made by the gatekeeper's own rules (argon2 run in place)."""
    req = parse_request({"op": "auth", "token": f"new_{role}", "username": name,
                         "password": PASSWORD})
    with gatekeeper.db.transaction():
        job = gatekeeper.gate.answer(Call(req, None, f"s_{name}"))
        reply = job.finish(job.run()).reply
    assert reply["ok"], reply
    return dict(reply)


def deliver(actor: Any, *messages: Message) -> None:
    """One fifo batch, as the actor's loop would hand it over."""
    actor.on_receive(Batch([m.to_wire() for m in messages]))


def run_told(actor: Any) -> int:
    """Handle what the actor told itself (a read turn, a password result), as its
    loop would; how many messages that was."""
    handled = 0
    while not actor.actor_inbox.empty():
        actor.on_receive(actor.actor_inbox.get().message)
        handled += 1
    return handled


class Timers(EventLoop):
    """An unstarted loop (no thread) that keeps the timers an actor arms on it: its
    upkeep tick (`BackendActor.schedule_upkeep`)."""

    def __init__(self) -> None:
        super().__init__("unstarted-timers")
        self.armed: list[Timer] = []

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        timer = super().call_later(delay, callback)
        timer.when = delay  # kept as asked: the test's clock is not the loop's
        self.armed.append(timer)
        return timer

    def next_in(self) -> float | None:
        """In how many seconds the timer armed last fires, from when it was armed
        (None: none was, or it was cancelled)."""
        if not self.armed or self.armed[-1].cancelled:
            return None
        return self.armed[-1].when


class ManualPool(Executor):
    """Stands in for the gatekeeper's argon2 pool: jobs run when the test says."""

    def __init__(self) -> None:
        self.waiting: list[tuple[Callable[[], Any], Future[Any]]] = []

    def submit(self, fn: Callable[[], Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        self.waiting.append((fn, future))
        return future

    def run_next(self) -> None:
        """Run the oldest job here; its done-callback tells the actor its result."""
        fn, future = self.waiting.pop(0)
        future.set_result(fn())

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        pass
