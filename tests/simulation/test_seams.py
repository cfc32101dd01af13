"""The seam (docs/simulation.md, "The seam"): the actors, the front door and the
rules read time, randomness, threads, sockets, storage and fault points only
through what they are given (`actors.env.Env`; vending/sources.py's `Clock` and
`Entropy`), so the simulator, which hands in its own, owns every source of
nondeterminism in the code it runs.

This reads every module of actors/, transport/ and vending/ and lists what each
reaches for on its own. Only the modules in `OWN` may, each for the reason given
there (the real defaults, and the real runtime the simulator stands in for); a new
`time.monotonic()`, `secrets`, `uuid`, `random`, thread, executor, socket,
database file or fault point anywhere else fails here until it goes through the
`Env` (or is added to `OWN` with its reason).
"""

from __future__ import annotations

import ast
import random
import sqlite3
from pathlib import Path

import pytest

from actors.env import Env
from simulation.api import Simulation
from simulation.seams import SimEntropy
from vending.credentials import Credentials

ROOT = Path(__file__).resolve().parents[2]
SCANNED = [p for folder in ("actors", "transport", "vending")
           for p in sorted((ROOT / folder).glob("*.py"))]

#: Modules whose every use is a reach-out (`time.x`, `from uuid import uuid4`...).
WHOLE = {"time", "secrets", "uuid", "random", "threading", "_thread", "multiprocessing",
         "socket", "faults"}
#: Names that are reach-outs within a module (os's entropy, pools, a database file).
NAMES = {"os": {"urandom", "getrandom"},
         "concurrent.futures": {"ThreadPoolExecutor", "ProcessPoolExecutor"},
         "sqlite3": {"connect"}}
#: Calls that build what the `Env` hands out, or open a socket, by their own name.
CALLS = {"Pushers", "FifoInlet", "EventPublisher", "Database", "ThreadPoolExecutor", "socket",
         "Context"}

#: module -> (what it may reach for, why). The real defaults of the `Env` and the
#: real runtime the simulator replaces whole; each entry must still be true.
OWN: dict[str, tuple[set[str], str]] = {
    "vending/sources.py": ({"time.time", "time.monotonic", "secrets.token_bytes",
                            "secrets.token_urlsafe", "uuid.uuid4"},
                           "the real Clock and Entropy"),
    "vending/db.py": ({"sqlite3.connect"}, "the real database opener (Env.database)"),
    "vending/sqlcount.py": ({"threading.Lock"},
                            "the bench's SQL counter: a lock, never contended in one thread"),
    "actors/env.py": ({"concurrent.futures.ThreadPoolExecutor", "ThreadPoolExecutor()",
                       "faults"},
                      "the real Env: argon2 threads, the fault points"),
    "actors/faults.py": ({"time.sleep", "threading.Event"},
                         "the real fault points (a delay, a hold)"),
    "actors/supervisor.py": ({"threading.Lock", "threading.Thread"},
                             "the real supervisor's restart threads; the simulator"
                             " supervises in a lane of its own (simulation/world.py)"),
    "actors/system.py": ({"Context()", "FifoInlet()", "EventPublisher()"},
                         "the real wiring; the simulator wires its own parts"),
    "transport/loop.py": ({"threading.Thread", "threading.Event", "threading.current_thread",
                           "time.monotonic"},
                          "the real event loop (simulation/loop.py stands in for it)"),
    "transport/fifo.py": ({"time.monotonic", "time.sleep", "socket()"},
                          "the real fifos: Env.pushers' default and the wiring's inlets"),
    "transport/frontdoor.py": ({"socket()", "threading.Event"},
                               "its loop's ROUTER and status PULL, and the drain the"
                               " stopping thread waits for; the simulator's SimFrontDoor"
                               " replaces exactly these (simulation/door.py)"),
    "transport/events.py": ({"threading.Thread", "threading.Event", "threading.Condition",
                             "threading.current_thread", "socket()"},
                            "events over PUB/SUB: the wiring's, and a client's stream"),
    "transport/peerguard.py": ({"socket.socket", "socket.SHUT_RDWR", "socket()"},
                               "ends a flooding subscriber's connection (the events' XPUB)"),
    "transport/client.py": ({"time.sleep", "Context()"}, "the client library"),
    "transport/aio.py": ({"Context()"}, "the client library, on asyncio"),
    "transport/protocol.py": ({"random.Random", "uuid.uuid4", "socket()"},
                              "the client library (retries' jitter, req_ids)"),
    "transport/codec.py": ({"threading.local"}, "a buffer per thread: no behaviour"),
}


def reach_outs(source: str) -> set[str]:
    """What `source` reaches for on its own: `module.name` for a use of a module in
    WHOLE or NAMES (however it was imported or renamed), `name()` for a call in CALLS."""
    tree = ast.parse(source)
    alias: dict[str, str] = {}  # local name -> module
    found: set[str] = set()

    def note(module: str, name: str) -> None:
        if module in WHOLE or name in NAMES.get(module, ()):
            found.add(f"{module}.{name}")

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                # `import a.b` binds `a` (the package); `import a.b as c` binds `c`.
                if a.asname:
                    alias[a.asname] = a.name
                else:
                    alias[a.name.split(".")[0]] = a.name.split(".")[0]
                if a.name.rsplit(".", 1)[-1] == "faults":
                    found.add("faults")
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            for a in node.names:
                if a.name == "faults" or module.endswith("faults"):
                    found.add("faults")
                else:
                    note(module, a.name)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            owner = alias.get(node.value.id)
            if owner is not None:
                note(owner, node.attr)
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in CALLS:
                found.add(f"{name}()")
    found.discard("faults.ACTIVE")  # (through `faults`, counted above)
    return found


def _scan() -> dict[str, set[str]]:
    return {f"{p.parent.name}/{p.name}": reach_outs(p.read_text()) for p in SCANNED}


def test_only_the_real_defaults_and_the_real_runtime_reach_out() -> None:
    stray = {module: sorted(found - OWN.get(module, (set(), ""))[0])
             for module, found in _scan().items()}
    assert {m: s for m, s in stray.items() if s} == {}, (
        "these reach for time, randomness, threads, sockets, storage or fault points on"
        " their own: take them from the Env instead (actors/env.py)")


def test_every_exception_is_still_needed() -> None:
    found = _scan()
    stale = {module: sorted(allowed - found.get(module, set()))
             for module, (allowed, _) in OWN.items()}
    assert {m: s for m, s in stale.items() if s} == {}


def test_the_scan_sees_every_kind_of_reach_out() -> None:
    """A module growing any of these is caught, however it imports it."""
    planted = {
        "import time\nt = time.monotonic()": {"time.monotonic"},
        "from time import time as now\nnow()": {"time.time"},
        "import secrets as s\ns.token_hex()": {"secrets.token_hex"},
        "from uuid import uuid4": {"uuid.uuid4"},
        "import random\nrandom.random()": {"random.random"},
        "import threading\nthreading.Thread(target=f).start()": {"threading.Thread"},
        "from concurrent.futures import ThreadPoolExecutor, Future":
            {"concurrent.futures.ThreadPoolExecutor"},
        "import os\nos.urandom(8)": {"os.urandom"},
        "from . import faults\nfaults.hit('x')": {"faults"},
        "from actors.faults import hit": {"faults"},
        "push = Pushers(ctx)": {"Pushers()"},
        "db = Database(path, SCHEMA)": {"Database()"},
        "import sqlite3\nsqlite3.connect(':memory:')": {"sqlite3.connect"},
        "sock = ctx.socket(zmq.PUSH)": {"socket()"},
        "import zmq.auth\nzmq.Context()": {"Context()"},
    }
    for source, expected in planted.items():
        assert reach_outs(source) == expected, source
    quiet = ("from concurrent.futures import Executor, Future\n"
             "import os\nos.environ.get('X')\n"
             "self.clock.monotonic(); self.env.entropy.uuid_hex(); self.faults.hit('p')\n"
             "self.env.pushers(ctx); self.env.database(path, schema)")
    assert reach_outs(quiet) == set()



def test_the_rules_see_only_their_side_of_the_seam() -> None:
    """vending/ is handed a Clock, an Entropy and Credentials: it imports no Pykka,
    ZeroMQ or msgpack, nor the actors or the transport (docs/design.md)."""
    banned = ("pykka", "zmq", "msgpack", "actors", "transport")
    found: dict[str, list[str]] = {}
    for path in sorted((ROOT / "vending").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom)
                     and not node.level else [])
            bad = [n for n in names if n.split(".")[0] in banned]
            if bad:
                found.setdefault(path.name, []).extend(bad)
    assert found == {}


#: simulation/ module -> what it may still patch in place, and why.
PATCHES: dict[str, tuple[set[str], str]] = {
    "bugs.py": ({"setattr"}, "the known bugs, put back for tests only"),
    "world.py": ({"pykka.ActorRegistry.stop_all"},
                 "catches the stop-all bug: a blocking stop_all on a loop thread"),
}


def patches(source: str) -> set[str]:
    """What `source` patches in place: `setattr(...)` calls, and assignments to an
    attribute of something it imported (a module, a class)."""
    tree = ast.parse(source)
    imported = {(a.asname or a.name).split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.Import | ast.ImportFrom) for a in node.names}
    found = set()
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id == "setattr"):
            found.add("setattr")
        targets = (node.targets if isinstance(node, ast.Assign)
                   else [node.target] if isinstance(node, ast.AugAssign | ast.AnnAssign)
                   else [])
        for target in targets:
            if isinstance(target, ast.Attribute):
                dotted = ast.unparse(target)
                if dotted.split(".")[0] in imported:
                    found.add(dotted)
    return found


def test_the_simulator_hands_the_env_in_and_patches_nothing_else() -> None:
    """The simulator plugs into the real code through the `Env` it hands in, not by
    swapping names in the real modules (what simulation/seams.py used to do)."""
    found = {p.name: patches(p.read_text()) for p in sorted((ROOT / "simulation").glob("*.py"))}
    stray = {name: sorted(names - PATCHES.get(name, (set(), ""))[0])
             for name, names in found.items()}
    assert {n: s for n, s in stray.items() if s} == {}
    assert all(allowed <= found[name] for name, (allowed, _) in PATCHES.items())
    planted = ("import actors.backend\nfrom actors import faults\nfrom vending.gate import Gate\n"
               "actors.backend.time = fake\nfaults.hit = f\nGate.clock = c\n"
               "setattr(actors.backend, 'Pushers', p)\nlane._ready = False\n")
    assert patches(planted) == {"actors.backend.time", "faults.hit", "Gate.clock", "setattr"}

def _world(seed: int) -> Simulation:
    # Every timer firing a step of its own: with housekeeping as one step, where
    # `run(steps=...)` cuts a run moves the world's step boundaries (and so the fault
    # draws), and two runs of 50 steps would not be one of 100 (docs/simulation.md,
    # "Interleavings").
    sim = Simulation(seed=seed, faults="all", batch_idle=False)
    sim.__enter__()
    for name in ("ann", "bob", "cy"):
        sim.buyer(name)
    sim.seller("sam")
    return sim


def test_two_worlds_in_one_process_interleaved_each_give_their_own_history() -> None:
    """Nothing a world hands the real code is shared through a module: two worlds run
    side by side, a few steps each in turn, give the histories they give alone."""
    alone = {}
    for seed in (11, 12):
        sim = _world(seed)
        sim.run(steps=2000)
        sim.__exit__(None, None, None)
        alone[seed] = sim.result.trace
    a, b = _world(11), _world(12)
    try:
        for _ in range(40):
            a.run(steps=50)
            b.run(steps=50)
    finally:
        b.__exit__(None, None, None)
        a.__exit__(None, None, None)
    assert {11: a.result.trace, 12: b.result.trace} == alone
    assert alone[11] != alone[12]
    assert a.result.faults > 0 and b.result.faults > 0


def _stored(seed: int, folder: Path) -> list[tuple[object, ...]]:
    folder.mkdir()
    with Simulation(seed=seed, faults="none", data_dir=folder) as sim:
        sim.buyer("ann")
        sim.seller("sam")
        sim.run(steps=1500)
    db = sqlite3.connect(folder / "gatekeeper.sqlite3")
    try:
        return db.execute("SELECT u.user_uid, u.pw_hash, s.wsess_uid, s.token_hash"
                          " FROM users u JOIN sessions s USING (account_id)"
                          " ORDER BY s.wsess_uid").fetchall()
    finally:
        db.close()


def test_what_a_world_stores_replays_too_salts_tokens_and_session_uids(tmp_path: Path) -> None:
    """Every random byte the code draws comes from the seed, even those that decide
    nothing (a password hash's salt)."""
    first = _stored(7, tmp_path / "a")
    assert first, "the run logged nobody in: nothing was compared"
    assert _stored(7, tmp_path / "b") == first


def test_an_env_refuses_credentials_drawing_from_another_entropy() -> None:
    seeded = SimEntropy(random.Random(1))
    with pytest.raises(ValueError, match="entropy"):
        Env(entropy=seeded)  # the real credentials would still make OS-random tokens
    assert Env(entropy=seeded, credentials=Credentials(seeded)).credentials.entropy is seeded
