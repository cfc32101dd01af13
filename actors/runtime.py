"""Pykka actors that run on an `EventLoop` thread instead of a thread each.

Pykka's `Actor` is built to be subclassed for another concurrency model (its
`_create_actor_inbox`, `_create_future` and `_start_actor_loop` hooks; its
gevent and eventlet runtimes were made this way). A `LoopActor` keeps
everything that makes it a Pykka actor (an `ActorRef`, `tell`/`ask`,
`on_start`/`on_receive`/`on_stop`/`on_failure`, the registry) but its messages
are handled by the loop thread it was started on, which it shares with other
actors and with the sockets that loop owns. A `tell` from that same thread
(a socket handler, another actor on the loop) costs a deque append: no
wake-up, no context switch, no GIL hand-off. A `tell` from another thread
wakes the loop once.

Never `ask` an actor on the loop you are running on: the loop would wait for
itself. (`tell` for events, `ask` only downwards, from other threads.)

Pykka's three documented hooks cannot run several actors on one thread: its actor
loop (`_actor_loop`) blocks on the inbox. So `_handle` copies the body of Pykka's
`_actor_loop_running` for one envelope and calls a few of its private methods.
pyproject.toml pins the exact Pykka version, and tests/actors/test_pykka_pin.py
fails loudly, naming what to re-read, when an upgrade changes any of them.
"""

from __future__ import annotations

import logging
import sys
from collections import deque
from typing import Any

import pykka
from pykka import ActorDeadError, ThreadingFuture
from pykka._envelope import Envelope
from pykka.messages import _ActorStop

from transport.loop import EventLoop

__all__ = ["LoopActor", "stop_soon"]

log = logging.getLogger(__name__)

#: Messages one actor handles per turn before others on its loop get theirs.
_TURN = 64


class _Inbox:
    """Envelopes for one actor; putting one schedules the actor on its loop."""

    __slots__ = ("_actor", "queue")

    def __init__(self, actor: LoopActor) -> None:
        self._actor = actor
        #: The envelopes; `LoopActor._turn` takes them from it directly.
        self.queue: deque[Envelope[Any]] = deque()

    def put(self, envelope: Envelope[Any], /) -> None:
        self.queue.append(envelope)
        actor = self._actor
        if not actor._scheduled:
            actor._scheduled = True
            actor.loop.call_soon(actor._turn)

    def get(self) -> Envelope[Any]:
        return self.queue.popleft()

    def empty(self) -> bool:
        return not self.queue


class LoopActor(pykka.Actor):
    """A Pykka actor whose messages are handled by the `EventLoop` it is given.

    `on_start`, `on_receive`, `on_stop` and `on_failure` all run in the loop
    thread, so the actor may use the loop's sockets and timers directly.
    """

    def __init__(self, loop: EventLoop) -> None:
        self.loop = loop
        self._scheduled = False
        super().__init__()

    def _create_actor_inbox(self) -> _Inbox:  # type: ignore[override]
        inbox = self._inbox = _Inbox(self)
        return inbox

    @staticmethod
    def _create_future() -> pykka.Future[Any]:
        return ThreadingFuture()

    def _start_actor_loop(self) -> None:
        # Queued before any message a caller can tell it, so on_start runs first.
        self._scheduled = True
        self.loop.call_soon(self._first_turn)

    def tell_here(self, message: Any) -> None:
        """What `self.actor_ref.tell(message)` does, less two calls (`ActorRef.tell`,
        `is_alive`): for what this actor's own loop thread tells it (a backend's
        every drained batch, upkeep tick and read turn; a heartbeat's ask comes in a
        batch).

        Raises:
            pykka.ActorDeadError: the actor has stopped, as `tell` raises.
        """
        if self.actor_stopped.is_set():
            raise ActorDeadError(f"{self.actor_ref} not found")
        self._inbox.put(Envelope(message))

    def _first_turn(self) -> None:
        self._actor_loop_setup()
        self._turn()

    def _turn(self) -> None:
        """Handle up to `_TURN` messages, then let the loop serve others."""
        # Cleared first: a put while we run schedules another turn, never none.
        self._scheduled = False
        queue, stopped = self._inbox.queue, self.actor_stopped.is_set
        for _ in range(_TURN):
            if stopped():
                self._actor_loop_teardown()
                return
            if not queue:
                return
            self._handle(queue.popleft())
        if queue and not self._scheduled:
            self._scheduled = True
            self.loop.call_soon(self._turn)

    def _handle(self, envelope: Envelope[Any]) -> None:
        # The body of pykka's `_actor_loop_running`, for one envelope.
        try:
            response = self._handle_receive(envelope.message)
            if envelope.reply_to is not None:
                envelope.reply_to.set(response)
        except Exception:
            if envelope.reply_to is not None:
                log.info("Exception returned from %s to caller:", self, exc_info=sys.exc_info())
                envelope.reply_to.set_exception()
            else:
                self._handle_failure(*sys.exc_info())
                try:
                    self.on_failure(*sys.exc_info())
                except Exception:  # noqa: BLE001 - pykka's own rule: log and stop
                    self._handle_failure(*sys.exc_info())
        except BaseException:  # noqa: BLE001 - pykka's own rule: stop everything
            # Without waiting (pykka's own loop blocks here): the other actors on this
            # loop can only stop once this turn returns, so blocking would wait forever.
            # The loop then ends too, after running the stops it has queued.
            log.debug("%r in %s: stopping all actors", sys.exc_info()[1], self)
            self._stop()
            pykka.ActorRegistry.stop_all(block=False)
            self.loop.request_stop()
        if self.actor_stopped.is_set():
            self._actor_loop_teardown()


def stop_soon(ref: pykka.ActorRef[Any]) -> None:
    """What `ref.stop(block=False)` does, for a caller that waits for no answer: the
    actor handles what it was told before, then stops (its `on_stop` runs in its
    turn). Pykka's makes two futures (a lock and three conditions each) for the
    answer nobody reads; a session actor is stopped that way after every idle
    spell. A dead actor is left alone, as `stop` leaves it."""
    if ref.is_alive():
        ref.tell(_ActorStop())  # what `stop` asks, told: the same envelope, no reply
