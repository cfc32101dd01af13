"""The `vending` command: `serve` runs the system; the rest are client commands."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import signal
import sys
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from actors.config import LOOP_LAYOUTS, SERVE_ROLES, Config, Endpoints
from simulation import cli as simulation_cli
from tools import bench
from vending.info import VERSION

from . import client_commands, logsetup, watch
from .client_commands import positive

if TYPE_CHECKING:
    from actors.system import VendingSystem

log = logging.getLogger("vending")


#: "default 32" as help texts write it: the one form is "default: 32".
_BARE_DEFAULT = re.compile(r"\bdefault (?!on update)")


class _DefaultsFormatter(argparse.HelpFormatter):
    """Every option's help states its default, one way: "(default: 32)", appended
    where the text names none, inside the text's own closing bracket if it ends
    with one ("(env X; default: 32)", never "(env X) (default: 32)")."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = _BARE_DEFAULT.sub("default: ", action.help or "")
        if ("default" in text or action.default in (None, argparse.SUPPRESS)
                or (not action.option_strings and action.nargs != "?")):
            return text
        value = "off" if action.default is False else "%(default)s"
        if text.endswith(")"):
            return f"{text[:-1]}; default: {value})"
        return f"{text} (default: {value})".lstrip()


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _DefaultsFormatter)
        super().__init__(*args, **kwargs)


#: Options a command's own parser defines that may also come before the command
#: (`vending --endpoint EP products`): with their value, or alone.
_HOISTED = ("--endpoint", "--session-file", "--server-key", "--timeout")
_HOISTED_FLAGS = ("--json",)


def hoist(argv: Sequence[str], commands: Collection[str]) -> list[str]:
    """`argv` with the options in `_HOISTED` that precede the command moved after
    it, where its own parser reads them (and says so if it takes no such option).

    One place for every command, those added later included: nothing to declare
    twice, and each command's `--help` keeps stating its own default.
    """
    args, moved = list(argv), list[str]()
    i = 0
    while i < len(args):
        word = args[i]
        name = word.split("=", 1)[0]
        if word in commands:
            return args[:i + 1] + moved + args[i + 1:]
        if name in _HOISTED and "=" not in word and i + 1 < len(args):
            moved += args[i:i + 2]
            del args[i:i + 2]
        elif name in _HOISTED or word in _HOISTED_FLAGS:
            moved.append(word)
            del args[i]
        else:
            i += 1
    return args  # no command: argparse says it is missing (not "invalid choice: EP")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="vending", description="A vending machine backend: actors, fifos, a ZeroMQ "
        "front door. `vending serve` runs it; register ... ping are its client; simulate, "
        "bench, chaos, fuzz and abuse exercise it; keygen makes CurveZMQ keys. A command's "
        f"{', '.join(_HOISTED + _HOISTED_FLAGS)} may also come before it "
        "(`vending --endpoint EP products`).")
    parser.add_argument("--version", action="version", version=f"vending {VERSION}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True,
                                parser_class=_Parser)
    serve = sub.add_parser("serve", help="run the system (every part, or one --role)",
                           description="Run front door, session actors, gatekeeper and stock "
                           "handler in one process, fifos on inproc://.")
    serve.add_argument("--bind", action="append", metavar="ENDPOINT",
                       help="ZeroMQ endpoint for clients (repeatable; default "
                       "tcp://127.0.0.1:5555)")
    serve.add_argument("--data-dir", default="./vending-data", metavar="DIR",
                       help="where the SQLite files live; ':memory:' keeps nothing "
                       "(default ./vending-data)")
    serve.add_argument("--session-idle", type=positive, default=1800.0, metavar="SECONDS",
                       help="end sessions idle this long (default 1800)")
    serve.add_argument("--request-timeout", type=positive, default=10.0, metavar="SECONDS",
                       help="answer UNAVAILABLE when a request takes longer (default 10)")
    serve.add_argument("--events", metavar="ENDPOINT",
                       help="publish every committed effect on a ZeroMQ PUB socket bound here "
                       "(e.g. tcp://127.0.0.1:5556; encrypted with --curve-secret). Embedded "
                       "they are always on inproc://events too; split, the gatekeeper and the "
                       "stock handler each bind their own (default: none over tcp)")
    serve.add_argument("--curve-secret", metavar="FILE",
                       help="encrypt client traffic with CurveZMQ using this secret key file "
                       "(from `vending keygen`); clients need the matching public key "
                       "(default: none, traffic in the clear)")
    serve.add_argument("--curve-clients", metavar="DIR",
                       help="with --curve-secret: only clients whose public key file "
                       "(NAME.key from `vending keygen DIR --name NAME`) is in DIR may connect, "
                       "to the front door and the events port alike; SIGHUP re-reads DIR "
                       "(default: any client key)")
    split = serve.add_argument_group(
        "split deployment", "Run one part per process (the same classes, fifos over tcp). "
        "Each fifo is bound by its owner and connected to by the others; give every "
        "process the same fifo endpoints. See README, 'Across processes and hosts'.")
    split.add_argument("--role", choices=SERVE_ROLES, default="all",
                       help="which part to run (default: all, in one process)")
    for name, owner in (("auth", "gatekeeper"), ("deposit", "gatekeeper"),
                        ("post", "stock handler")):
        split.add_argument(f"--{name}-fifo", metavar="ENDPOINT",
                           help=f"{name}.fifo, bound by the {owner} (e.g. tcp://10.0.0.2:5561; "
                           f"default: inproc://{name}.fifo)")
    split.add_argument("--status-fifo", metavar="ENDPOINT",
                       help="this front door's status fifo, where the others send statuses "
                       "(a front door role needs one, unique per front door; default: "
                       "inproc://status.fifo)")
    split.add_argument("--fifo-bind-any", action="store_true",
                       help="bind owned fifos on all interfaces (tcp://*:PORT) for other hosts")
    serve.add_argument("--loops", choices=LOOP_LAYOUTS, default="one",
                       help="one: every part of this process on one thread (no hand-off "
                       "between parts); per-part: a thread each, so one backend's stalled "
                       "disk does not stall the others (default: one)")
    serve.add_argument("--log-level", default="INFO",
                       choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                       help="least severe log lines written to stderr")
    serve.add_argument("--log-format", default="text", choices=logsetup.FORMATS,
                       help="text: one readable line each; json: one JSON object per line "
                       "(ts, level, logger, message and any extras)")
    serve.add_argument("--metrics", metavar="HOST:PORT",
                       help="serve Prometheus metrics at http://HOST:PORT/metrics (e.g. "
                       "127.0.0.1:9100; each process of a split layout serves its own; "
                       "default: none)")
    serve.set_defaults(func=serve_command)
    chaos = sub.add_parser("chaos", help="crash a loaded server again and again; check nothing "
                           "is lost", description="Start `vending serve`, load it with buyers and "
                           "sellers using req_ids, SIGKILL it at random moments, restart, re-send "
                           "what was lost, then check every acknowledged effect, conservation of "
                           "money and stock, and database integrity.")
    chaos.add_argument("--cycles", type=int, default=20, help="server kills")
    chaos.add_argument("--buyers", type=int, default=6, help="simulated buyers")
    chaos.add_argument("--sellers", type=int, default=2, help="simulated sellers")
    chaos.add_argument("--seconds", type=positive, default=2.0,
                       help="longest run before each kill (default 2)")
    chaos.add_argument("--seed", type=int, default=0, help="random seed")
    chaos.add_argument("--data-dir", type=Path, help="keep the data here (default: a temp dir)")
    chaos.add_argument("--split", action="store_true",
                       help="run the split layout and SIGKILL one role per cycle, in turn")
    chaos.add_argument("--disk-full", action="store_true",
                       help="instead of crashes: fill the disk under load (a tmpfs it mounts, "
                       "root only, or --data-dir on a small filesystem), free it, and check "
                       "nothing is lost and the server served again without a restart")
    chaos.set_defaults(func=chaos_command)
    fuzz = sub.add_parser("fuzz", help="send hostile frames to a running front door",
                          description="Send N hostile frames (random bytes, broken msgpack, odd "
                          "maps, oversized frames) to a server and check every answer is a "
                          "proper reply. Without --endpoint it starts an in-memory server of "
                          "its own; never point it at production.")
    fuzz.add_argument("--endpoint",
                      help="front door of a test server (default: none: start an in-memory "
                      "server of its own on a free loopback port)")
    fuzz.add_argument("--frames", type=int, default=10_000, help="hostile frames to send")
    fuzz.add_argument("--seed", type=int, default=0, help="random seed")
    fuzz.set_defaults(func=fuzz_command)
    abuse = sub.add_parser(
        "abuse", help="flood a running test server from one loopback address; report what "
        "a normal user saw",
        description="For a bounded time, flood a running server from 127.0.0.2 (events reads, "
        "registrations of a taken name, a long subscription on --events; --spray: wrong "
        "passwords from 20 addresses) while a normal user on 127.0.0.3 deposits and logs in. "
        "Prints that user's success rates and latencies, whether the server is still up, and "
        "its RSS. Loopback endpoints only; run it against a test server, not production.")
    abuse.add_argument("--endpoint", default="tcp://127.0.0.1:5555",
                       help="front door of a test server on loopback")
    abuse.add_argument("--events", metavar="ENDPOINT",
                       help="the server's --events endpoint: also flood it with long "
                       "subscriptions from a raw ZMTP peer (default: none, not flooded)")
    abuse.add_argument("--seconds", type=positive, default=20.0, help="how long to flood")
    abuse.add_argument("--spray", action="store_true",
                       help="also spray wrong passwords for the user's account from 20 addresses")
    abuse.add_argument("--no-reads", action="store_true", help="leave out the events reads")
    abuse.add_argument("--no-registrations", action="store_true",
                       help="leave out the registrations")
    abuse.add_argument("--seed-events", type=int, default=0, metavar="N",
                       help="first make N gatekeeper events to read (deposits from 127.0.0.5)")
    abuse.add_argument("--pid", type=int,
                       help="the server's process, for its RSS (default: the one listening "
                       "on the endpoint's port)")
    abuse.set_defaults(func=abuse_command)
    keygen = sub.add_parser("keygen", help="make a CurveZMQ key pair for `serve --curve-secret` "
                            "or for a client", description="Write NAME.key (public) and "
                            "NAME.key_secret (secret) into DIR. The server's pair (NAME server): "
                            "clients get server.key, `serve --curve-secret` takes "
                            "server.key_secret. A client's pair (any other NAME): NAME.key goes "
                            "into the folder of `serve --curve-clients`, the client keeps "
                            "NAME.key_secret for --client-key.")
    keygen.add_argument("dir", type=Path, help="folder for the key files (made if missing)")
    keygen.add_argument("--name", default="server",
                        help="file name stem: server, or a client's name")
    keygen.set_defaults(func=keygen_command)
    bench.add_command(sub)
    simulation_cli.add_command(sub)
    client_commands.add_commands(sub)
    watch.add_command(sub)
    return parser


def fuzz_command(args: argparse.Namespace) -> int:
    from actors.system import VendingSystem
    from tools.fuzz import fuzz

    if args.endpoint is not None:
        report = fuzz(args.endpoint, args.frames, seed=args.seed)
    else:
        # Not the production default endpoint: a server of its own, over tcp as a
        # peer would reach it, gone when the run ends.
        with VendingSystem(Config(data_dir=":memory:", binds=("tcp://127.0.0.1:*",))) as own:
            print(f"vending fuzz: against an in-memory server on {own.endpoints[0]}",
                  file=sys.stderr, flush=True)
            report = fuzz(own.endpoints[0], args.frames, seed=args.seed)
    print(report.line())
    return 0 if report.malformed_replies == 0 and report.answered else 1


def abuse_command(args: argparse.Namespace) -> int:
    from tools.abuse import NotLoopback, run_abuse
    from transport.client import NoReply

    floods = tuple(name for name, on in (("reads", not args.no_reads),
                                         ("registrations", not args.no_registrations),
                                         ("spray", args.spray),
                                         ("subscriptions", args.events is not None)) if on)
    try:
        report = run_abuse(args.endpoint, events=args.events, seconds=args.seconds,
                           floods=floods, pid=args.pid, seed_events=args.seed_events)
    except (NotLoopback, NoReply) as exc:  # a refused target, or no server there
        print(f"vending abuse: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, NotLoopback) else 1
    for line in report.lines():
        print(line)
    return 0 if report.met() else 1


def keygen_command(args: argparse.Namespace) -> int:
    import zmq.auth

    args.dir.mkdir(parents=True, exist_ok=True)
    public, secret = zmq.auth.create_certificates(args.dir, args.name)
    os.chmod(secret, 0o600)
    if args.name == "server":
        print(f"public key (for clients): {public}\nsecret key (for serve):   {secret}")
    else:
        print(f"public key (for serve --curve-clients DIR): {public}\n"
              f"secret key (for the client's --client-key): {secret}")
    return 0


def chaos_command(args: argparse.Namespace) -> int:
    from tools.chaos import MountRefused, run_chaos, run_disk_full

    def progress(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    if args.disk_full:
        try:
            summary = run_disk_full(data_dir=args.data_dir, buyers=args.buyers,
                                    sellers=args.sellers, seconds=args.seconds, seed=args.seed,
                                    progress=progress)
        except (MountRefused, ValueError) as exc:
            print(f"vending chaos --disk-full: {exc}", file=sys.stderr)
            return 2
    else:
        summary = run_chaos(args.cycles, data_dir=args.data_dir, buyers=args.buyers,
                            sellers=args.sellers, seconds=args.seconds, seed=args.seed,
                            split=args.split, progress=progress)
    for violation in summary.violations:
        print(f"violation: {violation}", file=sys.stderr)
    print(summary.line())
    return 0 if summary.lost == 0 and not summary.violations else 1


def serve_command(args: argparse.Namespace) -> int:
    # Before anything loads SQLite: its process-wide settings are taken only then.
    from vending import sqlite_library
    sqlite_library.configure()
    # Here, not at the top: `vending --help` and the client commands load no actors,
    # no storage and no argon2 (docs/design.md, "Start-up cost").
    from actors.system import VendingSystem

    logsetup.configure(args.log_level, args.log_format)
    defaults = Endpoints()
    endpoints = Endpoints(auth=args.auth_fifo or defaults.auth,
                          deposit=args.deposit_fifo or defaults.deposit,
                          post=args.post_fifo or defaults.post,
                          status=args.status_fifo or defaults.status)
    config = Config(data_dir=args.data_dir, binds=tuple(args.bind or ["tcp://127.0.0.1:5555"]),
                    session_idle=args.session_idle, request_timeout=args.request_timeout,
                    curve_secret_file=args.curve_secret, curve_clients=args.curve_clients,
                    role=args.role, endpoints=endpoints,
                    fifo_bind_any=args.fifo_bind_any, events=args.events,
                    metrics=args.metrics, loops=args.loops,
                    # The benchmark's A/B (`vending bench --events-off`): no events at all.
                    publish_events=os.environ.get("VENDING_EVENTS") != "off")
    try:
        config.check()
    except ValueError as exc:
        print(f"vending: error: {exc}", file=sys.stderr)
        return 2
    # A CPU-bound thread otherwise keeps the GIL for up to 5 ms while a thread
    # woken by a socket waits; 1 ms measured ~10% more purchases/s and a lower p99
    # (README, "Benchmark and performance"). Only here: an embedding program owns its interpreter.
    sys.setswitchinterval(0.001)
    from vending import sqlcount  # `vending bench --count-sql` only
    sqlcount.from_environ()
    with _stop_signals(hup=bool(config.curve_clients)) as (asked, wake_r):
        return _run_until_stopped(VendingSystem(config), config, asked, wake_r)


def _run_until_stopped(system: Any, config: Config, asked: dict[str, bool], wake_r: int) -> int:
    """Start `system`, serve until a stop signal, stop it; the exit code."""
    import zmq

    from vending.db import StorageError

    try:
        system.start()
    except StorageError as exc:
        print(f"vending: error: {exc}", file=sys.stderr)
        return 1
    except zmq.ZMQError as exc:
        where = ", ".join(config.binds) if config.runs("frontdoor") else "the fifo endpoints"
        if config.events:
            where += f" or the events endpoint {config.events}"
        print(f"vending: error: cannot bind {where}: {exc.strerror}", file=sys.stderr)
        return 1
    except OSError as exc:  # the metrics' HTTP port (the rest is ZeroMQ or storage)
        print(f"vending: error: cannot serve metrics on {config.metrics}: {exc.strerror}",
              file=sys.stderr)
        return 1
    try:
        where = ("none" if config.role == "frontdoor" else "in memory" if config.in_memory
                 else os.path.abspath(config.data_dir))
        log.info("ready on %s (role %s, data %s, pid %d)", " ".join(system.listening),
                 config.role, where, os.getpid(),
                 # Fields of their own in a --log-format json line.
                 extra={"endpoints": system.listening, "role": config.role, "data": where,
                        "pid": os.getpid()})
        if system.events_endpoints and config.events:
            log.info("events on %s", " ".join(system.events_endpoints))
        if system.metrics_address is not None:
            host, port = system.metrics_address
            log.info("metrics on http://%s:%d/metrics", host, port)
        while not asked["stop"]:
            # The wakeup fd's bytes are the signal numbers: read them too, since
            # the Python handler may not have run yet when the read returns.
            for signum in os.read(wake_r, 4096):
                if signum in (signal.SIGINT, signal.SIGTERM):
                    asked["stop"] = True
                elif signum == signal.SIGHUP:
                    asked["reload"] = True
            if asked["reload"] and not asked["stop"]:
                asked["reload"] = False
                _reload_clients(system, config)
        log.info("stopping: draining requests in flight")
    finally:
        system.stop()
    log.info("stopped")
    return 0


@contextlib.contextmanager
def _stop_signals(*, hup: bool) -> Iterator[tuple[dict[str, bool], int]]:
    """SIGTERM/SIGINT (and SIGHUP: reload the client keys) as flags plus a pipe
    the main thread reads; the old handlers are back and the pipe closed on exit,
    whatever way the server ends (a failed start included).

    The kernel may deliver a process signal to any of the server's threads; Python
    runs the handler later, in the main thread, which sat blocked in `os.read` and
    never woke (the stop was lost: 1 run in 12-30 of 200 SIGINTs under load). So
    the pipe is the interpreter's wakeup fd: its C-level handler writes a byte at
    once, from whatever thread took the signal. The Python handler only sets a
    flag: it takes no lock, since it may interrupt the main thread anywhere, itself
    included, and an Event.set() interrupted by the next one waited on itself.
    """
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    asked = {"stop": False, "reload": False}

    def on_signal(signum: int, frame: object) -> None:
        asked["reload" if signum == signal.SIGHUP else "stop"] = True
    caught = (signal.SIGTERM, signal.SIGINT) + ((signal.SIGHUP,) if hup else ())
    before = {signum: signal.signal(signum, on_signal) for signum in caught}
    # A burst fills no 64 KiB pipe; and a full one already wakes the reader.
    wakeup_before = signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
    try:
        yield asked, wake_r
    finally:
        # Handlers and the wakeup fd first: a late signal would write to a closed
        # (or reused) descriptor.
        signal.set_wakeup_fd(wakeup_before)
        for signum, handler in before.items():
            signal.signal(signum, handler)
        os.close(wake_r)
        os.close(wake_w)


def _commands(parser: argparse.ArgumentParser) -> Collection[str]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices.keys()
    return ()


def _reload_clients(system: VendingSystem, config: Config) -> None:
    """SIGHUP: re-read --curve-clients (a folder that cannot be read keeps the old keys)."""
    from vending.db import StorageError

    try:
        count = system.reload_curve_clients()
    except StorageError as exc:
        log.error("curve clients not reloaded: %s", exc)
        return
    log.info("curve clients reloaded from %s: %d key(s)", config.curve_clients, count)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(hoist(sys.argv[1:] if argv is None else argv, _commands(parser)))
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:  # Ctrl-C anywhere outside `serve`'s own handler
        print("vending: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the last resort: one line, not a traceback
        if os.environ.get("VENDING_DEBUG"):
            raise
        print(f"vending: error: {type(exc).__name__}: {exc} (a bug in vending; run again "
              "with VENDING_DEBUG=1 for the traceback)", file=sys.stderr)
        return 70  # EX_SOFTWARE
    return code


if __name__ == "__main__":
    sys.exit(main())
