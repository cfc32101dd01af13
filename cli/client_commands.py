"""Client subcommands of `vending`: the whole buyer and seller story from a shell.

The session (wsess_uid and token) is kept in a file between invocations
(`--session-file`, default ~/.vending-session.json, mode 0600).
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import zmq.auth

from transport.client import DEFAULT_ENDPOINT, Client
from vending.errors import VendingError
from vending.limits import unsafe_char


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--endpoint", default=os.environ.get("VENDING_ENDPOINT", DEFAULT_ENDPOINT),
                   help="front door endpoint (env VENDING_ENDPOINT; default %(default)s)")
    p.add_argument("--session-file", type=Path,
                   default=Path(os.environ.get("VENDING_SESSION",
                                               Path.home() / ".vending-session.json")),
                   help="where the session is kept (env VENDING_SESSION)")
    p.add_argument("--json", action="store_true", help="print the raw reply as JSON")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds per try (default 5)")
    p.add_argument("--server-key", default=os.environ.get("VENDING_SERVER_KEY"), metavar="FILE",
                   help="the server's CurveZMQ public key file (env VENDING_SERVER_KEY)")


def _password(p: argparse.ArgumentParser) -> None:
    p.add_argument("--password", help="password (else env VENDING_PASSWORD, else prompted)")


def add_commands(sub: Any) -> None:
    def cmd(name: str, help_text: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = sub.add_parser(name, help=help_text, description=help_text)
        _common(p)
        p.set_defaults(func=run, command=name)
        return p

    for name, verb in (("register", "create an account and log in"),
                       ("login", "log in to an account")):
        p = cmd(name, verb)
        p.add_argument("username")
        p.add_argument("--seller", action="store_true", help="the seller account (default buyer)")
        _password(p)
    cmd("deposit", "insert a coin (5, 10, 20, 50 or 100 cents)").add_argument("amount", type=int)
    p = cmd("buy", "buy units of a product with the deposit")
    p.add_argument("product_uid")
    p.add_argument("amount", type=int, nargs="?", default=1)
    p = cmd("sell", "create a product, or update one with --product")
    p.add_argument("--product", dest="product_uid", help="update this product instead")
    p.add_argument("--name", dest="product_name")
    p.add_argument("--cost", type=int, help="cents, a multiple of 5")
    p.add_argument("--amount", type=int, help="units (on update: added; negative takes out)")
    cmd("delete-product", "delete one of your products").add_argument("product_uid")
    cmd("products", "list products").add_argument("--seller", dest="seller_uid")
    cmd("product", "show one product").add_argument("product_uid")
    cmd("reset", "get the deposit back as coins")
    cmd("profile", "show the logged-in account")
    cmd("logout", "end this session")
    cmd("logout-all", "end every session of the account")
    _password(cmd("delete-user", "delete the account (asks for the password)"))
    cmd("ping", "check the server answers")


def _load(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
        return data
    except (OSError, ValueError):
        return {}


def _save(path: Path, data: dict[str, Any]) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f)


def _ask_password(args: argparse.Namespace) -> str:
    return str(args.password or os.environ.get("VENDING_PASSWORD") or getpass.getpass())


def printable(text: str) -> str:
    """`text` with control and bidi formatting characters escaped (`\\x1b`, `\\u202e`):
    strings off the wire are the server's users' words, not our terminal's commands."""
    if not any(map(unsafe_char, text)):
        return text
    return "".join(ch.encode("unicode_escape").decode("ascii") if unsafe_char(ch) else ch
                   for ch in text)


def _printable_all(value: Any) -> Any:
    """Every string in a decoded reply, keys included, made `printable`."""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, Mapping):
        return {_printable_all(k): _printable_all(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_printable_all(v) for v in value]
    return value


def _coins(coins: list[int]) -> str:
    return " ".join(map(str, coins)) if coins else "none"


def _product_line(p: Mapping[str, Any]) -> str:
    return (f"{p['product_uid']}  {p['product_name'][:30]:<30} {p['cost']:>7} cents"
            f"  {p['amount']:>7} left  ({p['seller_uid']})")


def run(args: argparse.Namespace) -> int:
    session = _load(args.session_file)
    try:
        server_key = zmq.auth.load_certificate(args.server_key)[0] if args.server_key else None
    except (OSError, ValueError) as exc:
        print(f"error: cannot read server key {args.server_key}: {exc}", file=sys.stderr)
        return 2
    with Client(args.endpoint, timeout=args.timeout, server_key=server_key) as client:
        client.wsess_uid, client.token = session.get("wsess_uid"), session.get("token")
        try:
            reply = _dispatch(client, args)
        except VendingError as exc:
            if args.json:  # json.dumps escapes every control and non-ASCII character
                print(json.dumps({"ok": False, "error": exc.code, "message": exc.message}))
            else:
                print(f"error: {printable(exc.code)}: {printable(exc.message)}",
                      file=sys.stderr)
            return 1
        if args.command in ("register", "login"):
            _save(args.session_file, {"endpoint": args.endpoint, "wsess_uid": client.wsess_uid,
                                      "token": client.token, "user_uid": client.user_uid})
        elif args.command in ("logout", "logout-all", "delete-user"):
            args.session_file.unlink(missing_ok=True)
    print(json.dumps(reply) if args.json else _describe(args.command, _printable_all(reply)))
    return 0


def _dispatch(c: Client, a: argparse.Namespace) -> dict[str, Any]:
    """Run the command; the reply as it came off the wire."""
    role = "seller" if getattr(a, "seller", False) else "buyer"
    match a.command:
        case "register" | "login":
            return (c.register if a.command == "register" else c.login)(a.username,
                                                                         _ask_password(a), role)
        case "deposit":
            return c.call("deposit", wsess_uid=c.wsess_uid or "", token=c.token or "",
                          amount=a.amount)
        case "buy":
            return c.buy(a.product_uid, a.amount)
        case "sell":
            if a.product_uid:
                p = c.update_product(a.product_uid, product_name=a.product_name, cost=a.cost,
                                     amount=a.amount)
            else:
                # Sent as given: the server names whichever field is missing.
                p = c.call("sell", wsess_uid=c.wsess_uid or "", token=c.token or "",
                           product_name=a.product_name, cost=a.cost, amount=a.amount)["product"]
            return {"ok": True, "product": p}
        case "delete-product":
            return {"ok": True, "product_uid": c.delete_product(a.product_uid)}
        case "products":
            return {"ok": True, "products": c.products(a.seller_uid)}
        case "product":
            return {"ok": True, "product": c.product(a.product_uid)}
        case "reset":
            return {"ok": True, "change": c.reset(), "deposit": 0}
        case "profile":
            return c.profile()
        case "logout":
            return {"ok": True, "ended": c.logout()}
        case "logout-all":
            return {"ok": True, "ended": c.logout_all()}
        case "delete-user":
            return c.delete_user(_ask_password(a))
        case "ping":
            return {"ok": True, "version": c.ping()}
    raise AssertionError(a.command)


def _describe(command: str, r: Mapping[str, Any]) -> str:
    """The text for a reply whose strings are already `printable`."""
    match command:
        case "register" | "login":
            text = f"{'Registered' if command == 'register' else 'Logged in'} as " \
                   f"{r['user_uid']}; deposit {r['deposit']} cents."
            if r.get("notice"):
                text += f"\nNote: {r['notice']} ({r['active_sessions']} other)."
            return text
        case "deposit":
            return f"Deposit is now {r['deposit']} cents."
        case "buy":
            return (f"Bought {r['amount']} x {r['product_name']} for {r['spent']} cents."
                    f"\nChange: {_coins(r['change'])}.")
        case "sell" | "product":
            return _product_line(r["product"])
        case "delete-product":
            return f"Deleted {r['product_uid']}."
        case "products":
            return "\n".join([_product_line(p) for p in r["products"]] or ["No products."])
        case "reset":
            return f"Change: {_coins(r['change'])}."
        case "profile":
            return (f"{r['user_uid']} ({r['role']}), deposit {r['deposit']} cents, "
                    f"{r['active_sessions']} other active session(s).")
        case "logout":
            return "Logged out."
        case "logout-all":
            return f"Ended {r['ended']} session(s)."
        case "delete-user":
            return f"Deleted {r['user_uid']}. Change: {_coins(r['change'])}."
        case "ping":
            return f"vending {r['version']} is up."
    raise AssertionError(command)
