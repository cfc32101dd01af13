"""The seed's gatekeeper.worker: owns users, auths (sessions) and deposits.

A thin shell around `vending.gate.Gate`: a client request goes to `Gate.answer`,
which runs the rule its op's row names (vending/ops.py); the stock handler's
questions (authorize, charge, resolve) go to the matching `Gate` method.

Listens on auth.fifo and deposit.fifo. Argon2 work runs in a small worker
pool so a burst of logins does not stall deposits and purchases; its result
comes back as a `CryptoDone` message and is finished in its own transaction.

Password work waits in a queue fair per source address (`vending/fairqueue.py`):
one address holds at most `crypto_per_address` jobs (beyond: RATE_LIMITED, that
address alone), and the workers take jobs round-robin over addresses, so one
address flooding registrations delays another's login by about one job per
worker, never refuses it. A job enters the queue in its request's batch but
starts only once that batch committed: a batch that rolls back takes its jobs
out again, so no password check finishes (and commits) after its client was
told UNAVAILABLE. Any rule that returns a `CryptoJob` is password work.
"""

from __future__ import annotations

import contextlib
import logging
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from functools import partial
from typing import Any

import pykka

from vending.authority import Grant
from vending.call import Call
from vending.db import Database
from vending.errors import ClientError, RateLimited, Unavailable
from vending.fairqueue import FairQueue, Refused
from vending.gate import SCHEMA, Gate
from vending.outcome import CryptoJob, Outcome
from vending.sessions import SessionPolicy

from .backend import BackendActor, Chore
from .config import Config
from .messages import CryptoDone
from .wire import (
    Authorize,
    Authorized,
    Charge,
    Charged,
    ClientRequest,
    Message,
    Purge,
    Purged,
    Resolve,
    Resolved,
    ReturnTicket,
    Status,
)

log = logging.getLogger(__name__)

#: Seconds between re-sends of seller purges, while one may still be pending.
RESEND_PURGES_EVERY = 5.0
#: Seconds between counts of live sessions for `health`, counted when a heartbeat
#: asks (a count of 100000 live sessions measured 40-90 ms: too much for every one).
COUNT_SESSIONS_EVERY = 3.0


@dataclass(eq=False)
class PasswordWork:
    """One argon2 job waiting for a worker, and the request it answers."""

    job: CryptoJob
    origin: ClientRequest


class GatekeeperActor(BackendActor):
    role = "gatekeeper"
    db_name = "gatekeeper.sqlite3"
    schema = SCHEMA
    #: A purge may be pending (one was sent, and no read since found none): the
    #: re-sends are due.
    _purging = False

    @classmethod
    def fifo_endpoints(cls, config: Config) -> list[str]:
        return [config.endpoints.auth, config.endpoints.deposit]

    def build(self, db: Database) -> None:
        env = self.env
        self.gate = Gate(db, SessionPolicy(idle=self.config.session_idle), clock=env.clock.time,
                         credentials=env.credentials)
        self.events = self.gate.events
        self._pool: Executor = env.password_pool(self.config.crypto_workers)
        #: Password work not started yet, round-robin over source addresses.
        self.password_work: FairQueue[PasswordWork] = FairQueue(
            self.config.crypto_per_address, self.config.max_crypto_backlog)
        #: Queued in the open transaction: taken out again if it rolls back.
        self._queued_now: list[PasswordWork] = []
        self._crypto_running = 0
        self._held: dict[int, list[Status]] = {}
        self._live_sessions = -1
        self._count_due = self.clock.monotonic() + COUNT_SESSIONS_EVERY  # `recover` counts

    def live_sessions(self) -> int:
        # Counted only for a heartbeat's answer, so only as often as one asks.
        now = self.clock.monotonic()
        if now >= self._count_due:
            self._count_due = now + COUNT_SESSIONS_EVERY
            self.transact(self._count_sessions)
        return self._live_sessions

    def _count_sessions(self) -> None:
        self._live_sessions = self.gate.sessions.live_total(self.gate.clock())

    def cleanup(self) -> None:
        pool = getattr(self, "_pool", None)
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        super().cleanup()

    def recover(self) -> None:
        self._resend_purges()
        self._count_sessions()

    def _resend_purges(self) -> None:
        pending = self.gate.purges.pending()
        if not pending:
            self._purging = False  # read: none pending is known, not assumed
        for account_id, _ in pending:
            self._send_purge(account_id)

    def upkeep(self, now: float) -> list[Chore]:
        # A Purge or its Purged lost with a restarting stock handler, or a batch
        # that failed on storage: the purge row is the truth, so ask again while one
        # may be pending. Idempotent on both sides.
        return [*super().upkeep(now),
                Chore(RESEND_PURGES_EVERY, partial(self.transact, self._resend_purges),
                      self._may_be_purging)]

    def _may_be_purging(self) -> bool:
        return self._purging

    def expire(self) -> None:
        self.gate.housekeeping()

    # -- fifo messages ---------------------------------------------------------
    def handle(self, message: Message) -> None:
        self.faults.hit("gatekeeper.in_batch")
        if isinstance(message, Resolve):
            resolution = self.gate.resolve(message.pid)
            self.send(message.back, Resolved(resolution.pid, resolution.committed))
        elif isinstance(message, Purged):
            self._purged(message.account_id)
        elif isinstance(message, ClientRequest):
            self._client_request(message)
        elif isinstance(message, Charge):
            self._charge(message)
        elif isinstance(message, Authorize):
            self._authorize(message)
        else:
            log.warning("gatekeeper: dropped a %r message", type(message).__name__)

    def _client_request(self, message: ClientRequest) -> None:
        req, rt = message.request, message.rt
        try:
            self._outcome(rt, self.gate.answer(Call(req, message.peer, rt.wsess)), message)
        except ClientError as exc:
            self.answer_client(rt, exc.to_reply())

    def _outcome(self, rt: ReturnTicket, out: Outcome | CryptoJob,
                 origin: ClientRequest) -> None:
        if isinstance(out, CryptoJob):
            work = PasswordWork(out, origin)
            refused = self.password_work.push(origin.peer or "local", work,
                                              capped=origin.peer is not None)
            if refused is Refused.KEY:
                self.answer_client(rt, RateLimited("too much password work from your address at"
                                            " once; retry later").to_reply())
            elif refused is Refused.ALL:
                self.answer_client(rt, Unavailable("too many logins at once; retry").to_reply())
            else:
                self._queued_now.append(work)
            return
        if out.purge is not None:
            account_id = out.purge[0]
            self._held.setdefault(account_id, []).append(Status(rt, out.reply, out.ended))
            self._send_purge(account_id)
            return
        self.answer_client(rt, out.reply, out.ended)

    # -- password work ---------------------------------------------------------
    def committed(self) -> None:
        self._queued_now = []  # its jobs may start (at `flush`)

    def rolled_back(self) -> None:
        queued, self._queued_now = self._queued_now, []
        if queued:
            self.password_work.remove(lambda work: work in queued)

    def flush(self) -> None:
        super().flush()
        self._start_password_work()

    def _start_password_work(self) -> None:
        """Give idle workers the next jobs, round-robin over addresses."""
        ref = self.actor_ref
        while self._crypto_running < self.config.crypto_workers:
            popped = self.password_work.pop()
            if popped is None:
                return
            work = popped[1]
            if self._stale(work.origin):
                continue  # its client was answered UNAVAILABLE while it waited
            self._crypto_running += 1

            def done(f: Future[Any], work: PasswordWork = work) -> None:
                # Runs in the worker thread: only a tell crosses to the actor.
                if f.cancelled():
                    return  # shutting down
                exc = f.exception()
                # A gone actor's callers are answered by the front door's deadline.
                with contextlib.suppress(pykka.ActorDeadError):
                    ref.tell(CryptoDone(work.job, None if exc else f.result(), exc,
                                        work.origin))
            self._pool.submit(work.job.run).add_done_callback(done)

    def _send_purge(self, account_id: int) -> None:
        self.send(self.config.endpoints.post, Purge(account_id, self.config.endpoints.deposit))
        if not self._purging:
            self._purging = True
            self.schedule_upkeep()  # the re-sends' tick

    def _purged(self, account_id: int) -> None:
        self.gate.purges.done(account_id)
        for status in self._held.pop(account_id, []):
            self.send(status.rt.status_fifo, status)

    def _charge(self, message: Charge) -> None:
        charged = self.gate.charge(message.step)
        self.send(message.back, Charged(charged.pid, message.rt, charged.committed,
                                        charged.reply))

    def _authorize(self, message: Authorize) -> None:
        result = self.gate.authorize(message.request)
        if isinstance(result, Grant):
            answer = Authorized(message.rt, message.request, grant=result)
        else:
            answer = Authorized(message.rt, message.request, reply=result.reply)
        self.send(message.back, answer)

    # -- argon2 results --------------------------------------------------------
    def handle_other(self, message: Any) -> Any:
        if not isinstance(message, CryptoDone):
            return super().handle_other(message)
        self._crypto_running -= 1
        rt = message.origin.rt
        assert self.db is not None
        if message.error is not None:
            log.error("gatekeeper: password work failed", exc_info=message.error)
            self.answer_client(rt, Unavailable("password check failed; retry").to_reply())
        elif not self._stale(message.origin):
            self.transact(lambda: self._outcome(rt, message.job.finish(message.result),
                                                message.origin), [message.origin])
        self.flush()
        return None
