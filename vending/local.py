"""Every op answered in one process, with no actors and no fifos.

The same paths the actors take, each owner's step in its own transaction: the
differential check (tools/differential.py, which the benchmark's baseline,
tools/baseline.py, must answer alike) and the rules tests drive the rules
through here. Argon2 work runs in place.
"""

from __future__ import annotations

from .call import Call
from .gate import Gate
from .ops import TABLE
from .outcome import CryptoJob, Outcome
from .purchase import settle
from .requests import Request
from .stock import Stock

__all__ = ["answer", "finish"]


def finish(out: Outcome | CryptoJob) -> Outcome:
    """Run argon2 jobs to completion, as the gatekeeper's worker pool would."""
    while isinstance(out, CryptoJob):
        out = out.finish(out.run())
    return out


def answer(gate: Gate, stock: Stock, req: Request, *, wsess_uid: str, peer: str | None,
           pid: str) -> Outcome:
    """Answer `req` by its row (vending/ops.py). Raises ClientError for a refusal.

    `wsess_uid`: the session an `auth` opens; `pid`: a `buy`'s purchase id.
    """
    row, call = TABLE[req.op], Call(req, peer, wsess_uid, pid=pid)
    owner = req.args["source"] if row.owner == "source" else row.owner
    if owner == "frontdoor":
        out: Outcome = row.rule(None, call)
        return out
    if owner == "gatekeeper":
        with gate.db.transaction():
            out = finish(gate.answer(call))
        if out.purge is not None:  # a deleted seller's products go too
            with stock.db.transaction():
                stock.purge_seller(out.purge[0])
            with gate.db.transaction():
                gate.purges.done(out.purge[0])
        return out
    if row.path == "saga":
        with stock.db.transaction():
            step = row.rule(stock, call)
        with gate.db.transaction():
            charged = gate.charge(step)
        with stock.db.transaction():
            settle(stock, pid, charged.committed)
        return Outcome(charged.reply)
    if row.path == "authorize":
        with gate.db.transaction():
            grant = gate.authorize(req)
        if isinstance(grant, Outcome):
            return grant
        with stock.db.transaction():
            return stock.authorized(Call(req, who=grant))
    with stock.db.transaction():
        return stock.answer(call)
