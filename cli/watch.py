"""`vending watch`: the machine's events, live, one readable line each (docs/protocol.md §6a).

Subscribes to the events socket, fetches what it missed with the `events` op
(transport/events.py `EventStream`), and fills every gap by itself. Ctrl-C ends it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Mapping
from typing import Any

from transport.client import DEFAULT_ENDPOINT, NoReply
from transport.events import EventStream, StreamEvent
from vending.errors import VendingError

from . import logsetup
from .client_commands import curve_client_option, curve_keys, no_reply, positive, printable
from .output import json_line

#: Where `vending watch` looks for events unless told (the README's `serve --events`).
DEFAULT_EVENTS = "tcp://127.0.0.1:5556"


def add_command(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "watch", help="show the machine's events live, one line each",
        description="Subscribe to a server's events (`vending serve --events ENDPOINT`) and "
        "print each one as it is committed, in order, once; events the socket dropped or "
        "missed are fetched with the `events` op. Ctrl-C ends it.")
    p.add_argument("--endpoint", default=os.environ.get("VENDING_ENDPOINT", DEFAULT_ENDPOINT),
                   help="front door endpoint, for fetching missed events (env "
                   "VENDING_ENDPOINT; default: %(default)s)")
    p.add_argument("--events", default=[os.environ.get("VENDING_EVENTS_ENDPOINT",
                                                       DEFAULT_EVENTS)],
                   action="append", dest="events_endpoints", metavar="ENDPOINT",
                   help="the server's events endpoint; repeat it for a split layout's "
                   "gatekeeper and stock handler (env VENDING_EVENTS_ENDPOINT; default "
                   f"{DEFAULT_EVENTS})")
    p.add_argument("--all", action="store_true",
                   help="first print every stored event (kept 48 h), both sources merged by "
                   "time (default: only new ones)")
    p.add_argument("--json", action="store_true",
                   help="one JSON object per line, {topic, source, seq, at, ...fields} "
                   "(default: readable text)")
    p.add_argument("--server-key", default=os.environ.get("VENDING_SERVER_KEY"), metavar="FILE",
                   help="the server's CurveZMQ public key file (env VENDING_SERVER_KEY; "
                   "default: none, for a server without --curve-secret)")
    p.add_argument("--timeout", type=positive, default=5.0, metavar="SECONDS",
                   help="give up when the front door has not answered within this long, "
                   "retries included (default: 5)")
    curve_client_option(p)
    p.set_defaults(func=watch_command)


def _value(value: Any) -> str:
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, list):
        return " ".join(map(str, value)) or "none"
    return str(value)


def line(event: StreamEvent) -> str:
    """One readable line; strings off the wire are escaped like every CLI output."""
    body: Mapping[str, Any] = event.body
    stamp = time.strftime("%H:%M:%S", time.localtime(float(body.get("at", 0))))
    head = f"{stamp} {printable(event.source)}#{event.seq} {printable(event.topic)}"
    fields = {k: v for k, v in body.items() if k not in ("source", "seq", "at")}
    product = fields.pop("product", None)
    if isinstance(product, Mapping):
        kind = fields.pop("kind", "")
        return (f"{head} {_value(kind)} {_value(product.get('product_uid'))} "
                f"{_value(product.get('product_name'))!r} {_value(product.get('cost'))} cents, "
                f"{_value(product.get('amount'))} left ({_value(product.get('seller_uid'))})")
    return " ".join([head, *(f"{printable(str(k))}={_value(v)}" for k, v in fields.items())])


def watch_command(args: argparse.Namespace) -> int:
    try:
        server_key, client_key = curve_keys(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    endpoints = args.events_endpoints
    if len(endpoints) > 1:
        endpoints = endpoints[1:]  # given on the command line: not the default too
    # Warnings of the stream (a role not answering for a while) as plain lines.
    logsetup.configure("WARNING", text="vending watch: %(message)s")
    # Two tries within --timeout and no pause between, as every client command: a
    # missing server is one line within the timeout (README, "A buyer and a seller,
    # from a shell").
    stream = EventStream(endpoints, args.endpoint, server_key=server_key,
                         client_key=client_key, live_only=not args.all,
                         timeout=args.timeout / 2, retries=1, backoff=0.0)
    try:
        try:
            stream.start()
        except NoReply:
            print(no_reply(args.endpoint, args.timeout), file=sys.stderr)
            return 1
        except VendingError as exc:
            print(f"error: {printable(exc.code)}: {printable(exc.message)}", file=sys.stderr)
            return 1
        after = ", ".join(f"{source}#{seq}" for source, seq in stream.last.items())
        print(f"vending watch: following {' '.join(endpoints)} after {after}; Ctrl-C ends it",
              file=sys.stderr, flush=True)
        for event in stream:
            text = json_line({"topic": event.topic, **event.body}) if args.json else line(event)
            print(text, flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        stream.close()
    if stream.error is not None:
        print(f"error: the event stream stopped: {stream.error}", file=sys.stderr)
        return 1
    return 0
