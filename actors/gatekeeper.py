"""The seed's gatekeeper.worker: owns users, auths (sessions) and deposits.

Listens on auth.fifo and deposit.fifo. Argon2 work runs in a small worker
pool so a burst of logins does not stall deposits and purchases; its result
comes back as a `CryptoDone` message and is finished in its own transaction.
"""

from __future__ import annotations

import contextlib
import logging
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pykka

from vending.accounts import SCHEMA, Accounts, Authorized, Charge, CryptoJob, Outcome
from vending.db import Database
from vending.errors import BadRequest, ClientError, Unavailable
from vending.sessions import SessionPolicy

from . import faults
from .backend import BackendActor, valid_rt
from .config import Config
from .messages import CryptoDone
from .wire import read_request

log = logging.getLogger(__name__)

_SESSION_KINDS = frozenset({"deposit", "reset", "profile", "logout", "logout_all",
                            "delete_user"})


class GatekeeperActor(BackendActor):
    role = "gatekeeper"
    db_name = "gatekeeper.sqlite3"
    schema = SCHEMA

    @classmethod
    def fifo_endpoints(cls, config: Config) -> list[str]:
        return [config.endpoints.auth, config.endpoints.deposit]

    def build(self, db: Database) -> None:
        self.accounts = Accounts(db, SessionPolicy(idle=self.config.session_idle))
        self._pool = ThreadPoolExecutor(self.config.crypto_workers, thread_name_prefix="argon2")
        self._crypto_backlog = 0
        self._held: dict[int, list[tuple[list[Any], dict[str, Any]]]] = {}
        self._ticks = 0

    def cleanup(self) -> None:
        pool = getattr(self, "_pool", None)
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        super().cleanup()

    def recover(self) -> None:
        for account_id, _ in self.accounts.pending_purges():
            self._send_purge(account_id)

    def tick(self) -> None:
        self._ticks += 1
        if self._ticks % 600 == 1:
            self.accounts.housekeeping()

    # -- fifo messages ---------------------------------------------------------
    def handle(self, message: dict[str, Any]) -> None:
        faults.hit("gatekeeper.in_batch")
        kind, rt = message.get("k"), message.get("rt")
        if kind == "resolve":
            committed = self.accounts.resolve(str(message.get("pid")))
            self.send(str(message.get("back")), {"k": "resolved", "pid": message.get("pid"),
                                                 "committed": committed})
            return
        if kind == "purged":
            self._purged(int(message.get("account_id", -1)))
            return
        if not valid_rt(rt):
            log.warning("gatekeeper: dropped %r message without a return ticket", kind)
            return
        try:
            req = read_request(message, self.trusted)
            if kind == "auth" and req.op == "auth":
                self._outcome(rt, self.accounts.auth(req, str(rt[1]), message.get("peer")),
                              message)
            elif kind in _SESSION_KINDS and req.op == kind:
                self._outcome(rt, self.accounts.session_op(req, message.get("peer")),
                              message)
            elif kind == "charge":
                self._charge(rt, message, req)
            elif kind == "authorize":
                self._authorize(rt, message, req)
            else:
                raise BadRequest(f"{kind!r} is not a gatekeeper message")
        except ClientError as exc:
            self.status(rt, exc.to_reply())

    def _outcome(self, rt: list[Any], out: Outcome | CryptoJob, origin: dict[str, Any]) -> None:
        if isinstance(out, CryptoJob):
            if self._crypto_backlog >= self.config.max_crypto_backlog:
                self.status(rt, Unavailable("too many logins at once; retry").to_reply())
                return
            self._crypto_backlog += 1
            future = self._pool.submit(out.run)
            ref = self.actor_ref
            job = out

            def done(f: Future[Any]) -> None:
                if f.cancelled():
                    return  # shutting down
                exc = f.exception()
                # A gone actor's callers are answered by the front door's deadline.
                with contextlib.suppress(pykka.ActorDeadError):
                    ref.tell(CryptoDone(job, None if exc else f.result(), exc, origin))
            future.add_done_callback(done)
            return
        if out.purge is not None:
            account_id = out.purge[0]
            self._held.setdefault(account_id, []).append(
                (rt, {"rt": rt, "reply": out.reply, "ended": out.ended}))
            self._send_purge(account_id)
            return
        self.status(rt, out.reply, out.ended)

    def _send_purge(self, account_id: int) -> None:
        self.send(self.config.endpoints.post, {"k": "purge", "account_id": account_id,
                                               "back": self.config.endpoints.deposit})

    def _purged(self, account_id: int) -> None:
        self.accounts.purge_done(account_id)
        for rt, status in self._held.pop(account_id, []):
            self.send(rt[0], status)

    def _charge(self, rt: list[Any], message: dict[str, Any], req: Any) -> None:
        stock_error = message.get("stock_error")
        charge = Charge(str(message.get("pid")), req, str(message.get("product_name", "")),
                        int(message.get("cost", 0)),
                        stock_error if isinstance(stock_error, dict) else None)
        reply, committed = self.accounts.charge(charge)
        self.send(str(message.get("back")), {"k": "charged", "pid": charge.purchase_id,
                                             "committed": committed, "reply": reply, "rt": rt})

    def _authorize(self, rt: list[Any], message: dict[str, Any], req: Any) -> None:
        result = self.accounts.authorize(req, str(message.get("role")))
        out: dict[str, Any] = {"k": "authorized", "rt": rt, "req": message.get("req")}
        if isinstance(result, Authorized):
            out["who"] = [result.account_id, result.user_uid, result.replay_only]
        else:
            out["reply"] = result.reply
        self.send(str(message.get("back")), out)

    # -- argon2 results --------------------------------------------------------
    def handle_other(self, message: Any) -> Any:
        if not isinstance(message, CryptoDone):
            return super().handle_other(message)
        self._crypto_backlog -= 1
        rt = message.origin["rt"]
        assert self.db is not None
        if message.error is not None:
            log.error("gatekeeper: password work failed", exc_info=message.error)
            self.status(rt, Unavailable("password check failed; retry").to_reply())
        else:
            with self.db.transaction():
                self._outcome(rt, message.job.finish(message.result), message.origin)
        self.flush()
        return None
