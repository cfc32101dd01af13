"""A data folder written by an earlier release's own code, for the upgrade tests.

`build_data_folder` unpacks release `RELEASE`'s tree (`git archive`) into a
temporary folder, runs its `vending serve` on `data_dir`, loads it through the
wire (accounts, deposits, products, a purchase, sessions, a reply kept under a
req_id, events), stops it cleanly and returns what that release answered, so a
test can check the newer code keeps all of it (tests/process/test_upgrade.py).

`python -m tools.oldrelease DIR` builds one by hand, to look at.
"""

from __future__ import annotations

import io
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transport.client import Client

from .serverproc import ServerProcess

#: The release before schema versions: its files carry no user_version.
RELEASE = "26aa1c3"
PASSWORD = "correct horse battery"
REPO = Path(__file__).resolve().parents[1]


class NoRelease(RuntimeError):
    """The repository's history does not hold the release (a shallow clone?)."""


@dataclass
class Loaded:
    """What the old release answered while it was loaded."""

    endpoint: str
    sessions: dict[str, dict[str, str]] = field(default_factory=dict)
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    products: list[dict[str, Any]] = field(default_factory=list)
    kept: dict[str, Any] = field(default_factory=dict)  # the request and its first reply
    events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    rows: dict[str, dict[str, int]] = field(default_factory=dict)


def unpack(release: str, into: Path) -> Path:
    """The release's tree, from this repository's history, under `into`."""
    try:
        tar = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", release],
                             capture_output=True, check=True, timeout=60).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise NoRelease(f"cannot read release {release} from the git history of {REPO}: "
                        f"{exc}") from None
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        archive.extractall(into, filter="data")
    return into


def _session(c: Client) -> dict[str, str]:
    return {"wsess_uid": c.wsess_uid or "", "token": c.token or ""}


def _load(endpoint: str, loaded: Loaded) -> None:
    with Client(endpoint, timeout=10.0) as sam, Client(endpoint, timeout=10.0) as ann, \
            Client(endpoint, timeout=10.0) as bob, Client(endpoint, timeout=10.0) as ann2:
        sam.register("sam", PASSWORD, "seller")
        cola = sam.sell("Coca-Cola", 35, 10)
        sam.sell("Straße", 5, 3)
        ann.register("ann", PASSWORD)
        ann.deposit(50)
        ann.deposit(100)
        kept = {"op": "deposit", "amount": 20, "req_id": "old-deposit-1", **_session(ann)}
        loaded.kept = {"request": kept, "reply": ann.request(kept)}
        ann.buy(cola["product_uid"], 2, req_id="old-buy-1")
        ann.deposit(10)
        ann2.login("ann", PASSWORD)  # a second live session of ann's
        bob.register("bob", PASSWORD)
        bob.deposit(5)
        for name, c in (("sam", sam), ("ann", ann), ("ann2", ann2), ("bob", bob)):
            loaded.sessions[name] = _session(c)
            loaded.profiles[name] = dict(c.profile())
        loaded.products = [dict(p) for p in ann.products()]
        for source in ("gatekeeper", "stock-handler"):
            loaded.events[source] = ann.events(source, 0, 1000)["events"]


def rows(data_dir: Path) -> dict[str, dict[str, int]]:
    """Rows per table of each database in `data_dir`."""
    out: dict[str, dict[str, int]] = {}
    for name in ("gatekeeper.sqlite3", "stock.sqlite3"):
        conn = sqlite3.connect(data_dir / name)
        try:
            tables = [r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")]
            out[name] = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                         for t in tables}
        finally:
            conn.close()
    return out


def old_server(tree: Path, data_dir: Path) -> ServerProcess:
    """A `vending serve` of the release unpacked at `tree` (not started)."""
    return ServerProcess(data_dir, cwd=tree, env={"PYTHONPATH": str(tree)})


def build_data_folder(data_dir: Path, release: str = RELEASE,
                      tree: Path | None = None) -> Loaded:
    """Make `data_dir` with `release`'s code (unpacked at `tree`, or in a temporary
    folder); what it answered.

    Raises:
        NoRelease: the release is not in this repository's history.
        RuntimeError: its server did not start.
    """
    with tempfile.TemporaryDirectory(prefix=f"vending-{release}-") as tmp:
        server = old_server(tree or unpack(release, Path(tmp)), data_dir)
        server.start()
        try:
            loaded = Loaded(server.endpoint)
            _load(server.endpoint, loaded)
        finally:
            code = server.terminate()
        if code != 0:
            raise RuntimeError(f"release {release}'s server exited {code}:\n"
                               + "\n".join(server.lines))
    loaded.rows = rows(data_dir)
    return loaded


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "vending-data-" + RELEASE)
    target.mkdir(parents=True, exist_ok=True)
    result = build_data_folder(target)
    print(f"{target}: written by {RELEASE}; rows {result.rows}")
