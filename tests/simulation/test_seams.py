"""Every source of nondeterminism in the code the simulation runs goes through a
seam it owns (simulation/seams.py): a new `time.time()`, `secrets`, `uuid`,
`random` or thread in that code fails here until the seam covers it."""

from __future__ import annotations

import re
from pathlib import Path

from simulation.seams import TIME_USERS

ROOT = Path(__file__).resolve().parents[2]
#: The modules the simulation runs for real (the sockets' modules are replaced whole).
RUN = [*sorted((ROOT / "actors").glob("*.py")), ROOT / "transport" / "frontdoor.py",
       *sorted((ROOT / "vending").glob("*.py"))]
#: Not run in the simulation: the wiring, the thread supervisor, test helpers, and the
#: fault points (the simulation stands in for actors.faults: simulation/disk.py), the
#: metrics scrape (its own HTTP thread; nothing it reads changes behaviour).
NOT_RUN = {"system.py", "supervisor.py", "testing.py", "faults.py", "metrics.py"}
CLOCK = re.compile(r"^[^#\n]*\btime\.(time|monotonic|sleep)\(", re.M)
RANDOM = re.compile(r"^[^#\n]*\b(secrets|uuid|random|os\.urandom)\.\w+\(", re.M)
THREAD = re.compile(r"^[^#\n]*\b(ThreadPoolExecutor|threading\.Thread)\(", re.M)
#: module -> what the seam swaps there (simulation/seams.py).
RANDOM_SEAMS = {"vending/credentials.py", "actors/stockhandler.py"}
THREAD_SEAMS = {"actors/gatekeeper.py"}


def _code(path: Path) -> str:
    text = path.read_text()
    return re.sub(r'"""(.|\n)*?"""', "", text)  # docstrings may talk about time.time()


def _name(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


def test_clock_reads_are_in_modules_whose_time_the_simulation_owns() -> None:
    owned = {name.replace(".", "/") + ".py" for name in TIME_USERS}
    found = {_name(p) for p in RUN if p.name not in NOT_RUN and CLOCK.search(_code(p))}
    assert found <= owned, f"clock reads outside the seam: {sorted(found - owned)}"
    assert found, "the scan found nothing: the pattern is broken"


def test_randomness_and_threads_only_where_the_seam_swaps_them() -> None:
    rand = {_name(p) for p in RUN if p.name not in NOT_RUN and RANDOM.search(_code(p))}
    threads = {_name(p) for p in RUN if p.name not in NOT_RUN and THREAD.search(_code(p))}
    assert rand == RANDOM_SEAMS
    assert threads == THREAD_SEAMS
