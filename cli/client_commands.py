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
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import zmq.auth

from transport.client import DEFAULT_ENDPOINT, Client, NoReply
from vending import limits
from vending.errors import InvalidCredentials, Unauthorized, VendingError
from vending.limits import unsafe_char
from vending.ops import TABLE

from .output import fit, json_line

#: After an UNAUTHORIZED, and whenever a command needs a session there is none of.
LOGIN_HINT = "log in with `vending login USERNAME` (--seller for a seller)"


class CommandError(Exception):
    """A client command cannot go on; the message is the one line the user sees."""


def positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return value


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--endpoint", default=os.environ.get("VENDING_ENDPOINT", DEFAULT_ENDPOINT),
                   help="front door endpoint (env VENDING_ENDPOINT; default: %(default)s)")
    p.add_argument("--session-file", type=Path,
                   default=Path(os.environ.get("VENDING_SESSION",
                                               Path.home() / ".vending-session.json")),
                   help="where the session is kept (env VENDING_SESSION; default: "
                   "%(default)s)")
    p.add_argument("--json", action="store_true",
                   help="print the reply as one JSON line (default: readable text)")
    p.add_argument("--timeout", type=positive, default=5.0, metavar="SECONDS",
                   help="give up when the server has not answered within this long, "
                   "retries included (default: 5)")
    p.add_argument("--server-key", default=os.environ.get("VENDING_SERVER_KEY"), metavar="FILE",
                   help="the server's CurveZMQ public key file (env VENDING_SERVER_KEY; "
                   "default: none, for a server without --curve-secret)")
    curve_client_option(p)


def curve_client_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--client-key", default=os.environ.get("VENDING_CLIENT_KEY"), metavar="FILE",
                   help="this client's CurveZMQ secret key file (NAME.key_secret from "
                   "`vending keygen DIR --name NAME`), for a server started with "
                   "--curve-clients (env VENDING_CLIENT_KEY; default: a fresh key pair)")


def curve_keys(args: argparse.Namespace) -> tuple[bytes | None, tuple[bytes, bytes] | None]:
    """(server public key, client key pair) from --server-key and --client-key.

    Raises:
        ValueError: a file cannot be read, or the client file holds no secret key.
    """
    try:
        server_key = zmq.auth.load_certificate(args.server_key)[0] if args.server_key else None
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read server key {args.server_key}: {exc}") from None
    if not args.client_key:
        return server_key, None
    try:
        public, secret = zmq.auth.load_certificate(args.client_key)
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read client key {args.client_key}: {exc}") from None
    if secret is None:
        raise ValueError(f"{args.client_key} holds no secret key (give the .key_secret file)")
    return server_key, (public, secret)


def _password(p: argparse.ArgumentParser) -> None:
    p.add_argument("--password", help="password (default: env VENDING_PASSWORD, else a line "
                   "on stdin when piped, else asked at the terminal)")


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
        p.add_argument("--seller", action="store_true",
                       help="the seller account (default: the buyer account)")
        _password(p)
    cmd("deposit", "insert a coin (5, 10, 20, 50 or 100 cents)").add_argument("amount", type=int)
    p = cmd("buy", "buy units of a product with the deposit")
    p.add_argument("product_uid")
    p.add_argument("amount", type=int, nargs="?", default=1, help="units")
    p = cmd("sell", "create a product, or update one with --product")
    p.add_argument("--product", dest="product_uid",
                   help="update this product instead (default: create a new one)")
    p.add_argument("--name", dest="product_name",
                   help="product name (needed to create; default on update: unchanged)")
    p.add_argument("--cost", type=int, help="cents, a multiple of 5 (needed to create; "
                   "default on update: unchanged)")
    p.add_argument("--amount", type=int, help="units (needed to create; on update: added, "
                   "negative takes out; default on update: unchanged)")
    cmd("delete-product", "delete one of your products").add_argument("product_uid")
    p = cmd("products", "list products (all, or one page with --limit)")
    p.add_argument("--by", dest="seller_uid", metavar="SELLER_UID",
                   help="only this seller's products, e.g. seller_sam (default: all)")
    # The old spelling, hidden: `--seller` is a flag everywhere else (login, register).
    p.add_argument("--seller", dest="old_seller_uid", help=argparse.SUPPRESS)
    p.add_argument("--name", help="only names holding this text, case-insensitively "
                   "(default: any name)")
    p.add_argument("--limit", type=int, help="at most this many (1-1000), and say whether "
                   "more follow (default: every product)")
    p.add_argument("--after", metavar="PRODUCT_UID",
                   help="only products after this one (the next page; default: from the first)")
    cmd("product", "show one product").add_argument("product_uid")
    cmd("reset", "get the deposit back as coins")
    cmd("profile", "show the logged-in account")
    cmd("logout", "end this session")
    cmd("logout-all", "end every session of the account")
    _password(cmd("delete-user", "delete the account (asks for the password)"))
    p = cmd("passwd", "change the account's password; its other sessions end")
    _password(p)
    p.add_argument("--new-password", help="the new password, 8-256 characters (default: env "
                   "VENDING_NEW_PASSWORD, else the next line of stdin, else asked at the "
                   "terminal)")
    p = cmd("history", "the account's own deposits, purchases and resets, or sales; newest "
            "first")
    p.add_argument("--limit", type=int, help="entries per page, 1-100 (default: 20)")
    p.add_argument("--before", type=int, metavar="ID",
                   help="only entries older than this id (the next page; default: newest)")
    cmd("health", "show every part's state; exit 1 when degraded (a container health check)")
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


def _ask_password(args: argparse.Namespace, option: str = "password",
                  env: str = "VENDING_PASSWORD", prompt: str = "Password: ") -> str:
    given = getattr(args, option) or os.environ.get(env)
    if given:
        return str(given)
    if sys.stdin.isatty():
        try:
            return getpass.getpass(prompt)
        except EOFError:  # Ctrl-D at the prompt
            pass
    else:
        # Piped (`echo ... | vending login ann`): a line from stdin, no echo to hide.
        line = sys.stdin.readline().rstrip("\r\n")
        if line:
            return line
    flag = "--" + option.replace("_", "-")
    raise CommandError(f"no {option.replace('_', ' ')} given: use {flag}, set {env}, or type "
                       "it at the prompt")


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
    return (f"{p['product_uid']}  {fit(p['product_name'], 30)} {p['cost']:>7} cents"
            f"  {p['amount']:>7} left  ({p['seller_uid']})")


def no_reply(endpoint: str, timeout: float) -> str:
    """The one line a command prints when nothing answered within `timeout`."""
    return (f"error: no reply from {endpoint} within {timeout:g} s: is the server running? "
            "Start it with `vending serve` (or give --endpoint).")


def run(args: argparse.Namespace) -> int:
    session = _load(args.session_file)
    try:
        server_key, client_key = curve_keys(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # Two tries within --timeout: a lost request is resent (same req_id) and a
    # missing server is reported while the user is still looking.
    with Client(args.endpoint, timeout=args.timeout / 2, retries=1, backoff=0.0,
                server_key=server_key, client_key=client_key) as client:
        client.wsess_uid, client.token = session.get("wsess_uid"), session.get("token")
        try:
            reply = _dispatch(client, args, session)
            if args.command in ("register", "login"):
                _save(args.session_file, {"endpoint": args.endpoint,
                                          "wsess_uid": client.wsess_uid, "token": client.token,
                                          "user_uid": client.user_uid})
            elif _ends_session(args.command):
                args.session_file.unlink(missing_ok=True)
        except NoReply:
            print(no_reply(args.endpoint, args.timeout), file=sys.stderr)
            return 1
        except VendingError as exc:
            if args.json:
                print(json_line({"ok": False, "error": exc.code, "message": exc.message}))
            else:
                print(f"error: {printable(exc.code)}: {printable(exc.message)}"
                      f"{_hint(exc, args)}", file=sys.stderr)
            return 1
        except CommandError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        except OSError as exc:
            print(f"error: session file {args.session_file}: {exc.strerror}", file=sys.stderr)
            return 1
    print(json_line(reply) if args.json
          else _describe(args.command, _printable_all(reply), getattr(args, "replaced", False)))
    # A container health check reads the exit code.
    return 1 if args.command == "health" and reply.get("status") != "ok" else 0


def _hint(exc: VendingError, args: argparse.Namespace) -> str:
    if isinstance(exc, Unauthorized):
        return f"; {LOGIN_HINT}"
    if (isinstance(exc, InvalidCredentials) and args.command == "login"
            and not args.seller):
        return " (--seller for a seller)"
    return ""


#: Commands that send the kept session (their op's row in vending/ops.py needs one):
#: without one, said here before asking the server.
NEEDS_SESSION = frozenset(op.replace("_", "-") for op, row in TABLE.items() if row.session)

#: What `sell` needs to create a product: option, and its field on the wire.
_CREATE_NEEDS = (("--name", "product_name"), ("--cost", "cost"), ("--amount", "amount"))


def _check_locally(c: Client, a: argparse.Namespace) -> None:
    """What the CLI can tell without asking, said in its own words (options, not
    wire fields)."""
    if a.command == "sell" and not a.product_uid:
        missing = [option for option, field in _CREATE_NEEDS if getattr(a, field) is None]
        if missing:
            raise CommandError(f"{' and '.join(missing)} "
                               f"{'is' if len(missing) == 1 else 'are'} missing: needed to "
                               "create a product (or give --product to update one)")
    if a.command in NEEDS_SESSION and not (c.wsess_uid and c.token):
        raise CommandError(f"not logged in: {LOGIN_HINT}")


def _login_password(a: argparse.Namespace) -> str:
    """The password for `login`. One no account can have (outside the length rule) is
    refused here as INVALID_CREDENTIALS, what a wrong password gets: the server
    would answer BAD_REQUEST naming the rule, a hint to nobody but a guesser
    (README, "A buyer and a seller, from a shell")."""
    password = _ask_password(a)
    if not limits.PASSWORD_MIN <= len(password) <= limits.PASSWORD_MAX:
        raise InvalidCredentials("unknown account or wrong password")  # the server's words
    return password


def _ends_session(command: str) -> bool:
    """The command's op ends the session (its row in vending/ops.py says so)."""
    row = TABLE.get(command.replace("-", "_"))
    return row is not None and row.ends_session


def _end_replaced(c: Client, previous: Mapping[str, Any], endpoint: str) -> bool:
    """Log out the session a new login replaces in the session file, so that
    logging in again does not leave one more live session behind each time.

    Returns whether a session of the account now logged in was ended.
    """
    old, token = previous.get("wsess_uid"), previous.get("token")
    if not old or not token or old == c.wsess_uid or previous.get("endpoint") != endpoint:
        return False
    try:
        reply = c.request({"op": "logout", "wsess_uid": old, "token": token})
    except VendingError:
        return False  # best effort: the login itself succeeded
    return bool(reply.get("ok")) and previous.get("user_uid") == c.user_uid


def _dispatch(c: Client, a: argparse.Namespace,
              session: Mapping[str, Any]) -> Mapping[str, Any]:
    """Run the command; the reply as it came off the wire."""
    role = "seller" if getattr(a, "seller", False) else "buyer"
    _check_locally(c, a)
    match a.command:
        case "register" | "login":
            password = _ask_password(a) if a.command == "register" else _login_password(a)
            r = (c.register if a.command == "register" else c.login)(a.username, password,
                                                                      role)
            a.replaced = _end_replaced(c, session, a.endpoint)
            return r
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
                p = c.call("sell", wsess_uid=c.wsess_uid or "", token=c.token or "",
                           product_name=a.product_name, cost=a.cost, amount=a.amount)["product"]
            return {"ok": True, "product": p}
        case "delete-product":
            return {"ok": True, "product_uid": c.delete_product(a.product_uid)}
        case "products":
            if a.old_seller_uid is not None:
                print("note: `products --seller UID` is now `products --by UID`",
                      file=sys.stderr)
            seller_uid = a.seller_uid or a.old_seller_uid
            if a.limit is None and a.after is None and a.name is None:
                return {"ok": True, "products": c.products(seller_uid)}
            return c.call("products", seller_uid=seller_uid, name=a.name, after=a.after,
                          limit=a.limit)
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
        case "passwd":
            current = _ask_password(a)
            new = _ask_password(a, "new_password", "VENDING_NEW_PASSWORD", "New password: ")
            return {"ok": True, "ended": c.change_password(current, new)}
        case "history":
            return c.call("history", wsess_uid=c.wsess_uid or "", token=c.token or "",
                          before=a.before, limit=a.limit)
        case "health":
            return c.health()
    raise AssertionError(a.command)


def _describe(command: str, r: Mapping[str, Any], replaced: bool = False) -> str:
    """The text for a reply whose strings are already `printable`; `replaced`: the
    login ended the session it replaced, which the server still counted."""
    match command:
        case "register" | "login":
            others = r.get("active_sessions", 0) - replaced
            text = f"{'Registered' if command == 'register' else 'Logged in'} as " \
                   f"{r['user_uid']}; deposit {r['deposit']} cents."
            if others > 0 and r.get("notice"):
                text += f"\nNote: {r['notice']} ({others} other)."
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
            lines = [_product_line(p) for p in r["products"]] or ["No products."]
            if r.get("more"):
                lines.append(f"More: --after {r['products'][-1]['product_uid']}")
            return "\n".join(lines)
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
        case "passwd":
            return f"Password changed; {r['ended']} other session(s) ended."
        case "history":
            lines = [_history_line(e) for e in r["entries"]] or ["No history."]
            if r["more"]:
                lines.append(f"More: --before {r['entries'][-1]['id']}")
            return "\n".join(lines)
        case "health":
            return _health_text(r)
    raise AssertionError(command)


def _history_line(e: Mapping[str, Any]) -> str:
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(e["at"]))
    match e["kind"]:
        case "deposit":
            what = f"deposit {e['amount']} cents"
        case "purchase":
            what = (f"bought {e['amount']} x {e['product_name']} ({e['product_uid']}) for "
                    f"{e['spent']} cents, change {_coins(e['change'])}")
        case "reset":
            what = f"reset, change {_coins(e['change'])}"
        case "sale":
            what = (f"sold {e['amount']} x {e['product_name']} ({e['product_uid']}) for "
                    f"{e['spent']} cents")
        case other:
            what = str(other)
    return f"{e['id']:>6}  {when}  {what}"


def _health_text(r: Mapping[str, Any]) -> str:
    lines = [f"status: {r['status']}"]
    for name, part in r["parts"].items():
        lines.append(f"{name}: {'up' if part['up'] else 'DOWN'}, storage {part['storage']}, "
                     f"last heard {part['last_heard_ms']} ms ago")
    seqs = ", ".join(f"{k} {v}" for k, v in r["last_seq"].items())
    lines.append(f"sessions {r['sessions']}, in flight {r['in_flight']}, last_seq: {seqs}")
    return "\n".join(lines)
