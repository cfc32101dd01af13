"""examples/: the buyer-and-seller story in Python and Node.js, run as a user would,
against a real `vending serve` that starts empty, and run twice."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tools.serverproc import ANY_PORT, ServerProcess, free_tcp_endpoint
from transport.client import Client

ROOT = Path(__file__).resolve().parents[2]
NODE_DIR = ROOT / "examples" / "node"

#: What both examples print, apart from the lines naming their run's users.
STORY = [
    "selling cola at 35 cents, 10 in stock",
    "deposited 150 cents",
    "bought 2 x cola for 70 cents, change 50 20 10",
    "stock left: 8",
    "restocked: 13 in stock",
    "both logged out",
]


@pytest.fixture(scope="session")
def node() -> str:
    """The node binary, with examples/node's packages installed from its lock file.

    Fails (never skips) when node or npm is missing: the examples are part of the product.
    """
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.fail("node and npm are needed to test examples/node (Node 18+)")
    done = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                          cwd=NODE_DIR, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        pytest.fail(f"npm ci in examples/node failed:\n{done.stdout}\n{done.stderr}")
    return node


def _run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=cwd)


def _node(node: str, program: str) -> str:
    """What an ES module `program` run in examples/node prints (it must succeed)."""
    done = subprocess.run([node, "--input-type=module", "-e", program], cwd=NODE_DIR,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _check_story(done: subprocess.CompletedProcess[str]) -> list[str]:
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    for expected in STORY:
        assert any(expected in line for line in lines), (expected, done.stdout)
    return [line for line in lines if line.startswith(("seller ", "buyer "))]


@pytest.mark.parametrize("language", ["python", "node"])
def test_the_example_runs_twice_on_an_empty_server(
        language: str, serve: Callable[..., ServerProcess], tmp_path: Path,
        request: pytest.FixtureRequest) -> None:
    served = serve(tmp_path / "data")
    if language == "python":
        argv = [sys.executable, str(ROOT / "examples" / "python" / "buyer_seller.py")]
    else:
        argv = [request.getfixturevalue("node"), str(NODE_DIR / "buyer_seller.mjs")]
    first = _check_story(_run([*argv, served.endpoint], tmp_path))
    second = _check_story(_run([*argv, served.endpoint], tmp_path))
    assert len(first) == len(second) == 2
    assert not set(first) & set(second), "each run registers its own users"


def test_the_node_client_gives_up_naming_the_endpoint(node: str, tmp_path: Path) -> None:
    nobody = free_tcp_endpoint()  # a free port nothing listens on
    program = ("import { VendingClient } from './vending.mjs';\n"
               f"const c = new VendingClient('{nobody}', {{ timeout: 200, retries: 1 }});\n"
               "try { await c.ping(); console.log('answered'); }\n"
               "catch (err) { console.log(err.code, err.message); } finally { c.close(); }\n")
    out = _node(node, program)
    assert out.startswith("UNAVAILABLE"), out
    assert nobody in out and "after 2 tries" in out


def test_the_node_client_replays_by_req_id(node: str, serve: Callable[..., ServerProcess],
                                           tmp_path: Path) -> None:
    served = serve(tmp_path / "data")
    program = ("import { VendingClient } from './vending.mjs';\n"
               f"const c = new VendingClient('{served.endpoint}');\n"
               "await c.register('ann', 'correct horse battery');\n"
               "const again = { ...c.session, op: 'deposit', amount: 20, req_id: 'd-1' };\n"
               "const replies = [await c.request(again), await c.request(again),\n"
               "                 await c.request({ ...again, amount: 5 })];\n"
               "console.log(JSON.stringify(replies)); c.close();\n")
    first, replay, other = json.loads(_node(node, program))
    assert first == replay == {"ok": True, "deposit": 20, "req_id": "d-1"}
    assert (other["error"], other["req_id"]) == ("BAD_REQUEST", "d-1")


def test_the_node_package_exports_the_client_and_the_subscriber(node: str) -> None:
    package = json.loads((NODE_DIR / "package.json").read_text())
    assert package["name"] and package["version"]
    for entry in package["exports"].values():
        assert (NODE_DIR / entry["default"]).is_file() and (NODE_DIR / entry["types"]).is_file()
    program = ("import { VendingClient, worstCase } from 'vending-client';\n"
               "import { EventSubscriber } from 'vending-client/events';\n"
               "console.log(typeof VendingClient, typeof EventSubscriber, worstCase());\n")
    # Self-reference by package name: what `import ... from 'vending-client'` gets.
    assert _node(node, program).split() == ["function", "function", "4200"]


def test_the_node_subscriber_fills_the_backlog_then_follows_live(
        node: str, serve: Callable[..., ServerProcess], tmp_path: Path) -> None:
    served = serve(tmp_path / "data", "--events", ANY_PORT)
    events = served.events_endpoint()
    with Client(served.endpoint, timeout=10) as sam:
        sam.register("sam", "correct horse battery", "seller")
        sam.sell("cola", 35, 10)  # stored before the subscriber starts: fetched by the op
    program = (
        "import { EventSubscriber } from './events.mjs';\n"
        "import { VendingClient } from './vending.mjs';\n"
        f"const sub = await new EventSubscriber('{events}', '{served.endpoint}').start();\n"
        f"const ann = new VendingClient('{served.endpoint}', {{ timeout: 10000 }});\n"
        "await ann.register('ann', 'correct horse battery');\n"
        "await ann.deposit(20);\n"  # after start: these come live
        "const seen = [];\n"
        "for await (const e of sub) {\n"
        "  seen.push([e.source, e.seq, e.topic, typeof e.at]);\n"
        "  if (seen.length === 4) break;\n"
        "}\n"
        "ann.close();\n"
        "console.log(JSON.stringify({ seen, filled: sub.filled, last: sub.last }));\n")
    out = json.loads(_node(node, program))
    by_source: dict[str, list[int]] = {}
    for source, seq, _topic, at_type in out["seen"]:
        by_source.setdefault(source, []).append(seq)
        assert at_type == "number"
    # Each source in order from 1, none twice: the backlog (sam's two) then live (ann's).
    assert by_source == {"gatekeeper": [1, 2, 3], "stock-handler": [1]}, out
    assert [t for _, _, t, _ in out["seen"]][-1] == "deposit"


def test_the_asyncio_example_is_the_readme_snippet_and_runs(
        serve: Callable[..., ServerProcess], tmp_path: Path) -> None:
    program = ROOT / "examples" / "python" / "aio_client.py"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"```python\n{program.read_text()}```" in readme
    served = serve(tmp_path / "data")
    for _ in range(2):  # its own user each run
        done = _run([sys.executable, str(program), served.endpoint], tmp_path)
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines() == ["deposit: 20", "deposit: 70", "change: [50, 20]"]


def test_the_node_client_has_the_new_ops(node: str, serve: Callable[..., ServerProcess],
                                         tmp_path: Path) -> None:
    served = serve(tmp_path / "data")
    program = ("import { VendingClient } from './vending.mjs';\n"
               f"const ep = '{served.endpoint}';\n"
               "const sam = new VendingClient(ep), ann = new VendingClient(ep),\n"
               "      other = new VendingClient(ep);\n"
               "await sam.register('sam', 'correct horse battery', 'seller');\n"
               "const cola = await sam.sell('Coca-Cola', 35, 5);\n"
               "await sam.sell('Tea', 5, 5);\n"
               "await ann.register('ann', 'correct horse battery');\n"
               "await other.login('ann', 'correct horse battery');\n"
               "await ann.deposit(50);\n"
               "await ann.buy(cola.product_uid, 1);\n"
               "const out = {\n"
               "  found: await ann.findProducts('COLA', { limit: 1 }),\n"
               "  history: await ann.history({ limit: 1 }),\n"
               "  sales: await sam.history(),\n"
               "  ended: await ann.changePassword('correct horse battery', 'a new password'),\n"
               "  health: await ann.health(),\n"
               "};\n"
               "try { await other.call('profile', other.session); }\n"
               "catch (e) { out.other = e.code; }\n"
               "console.log(JSON.stringify(out)); sam.close(); ann.close(); other.close();\n")
    done = subprocess.run([node, "--input-type=module", "-e", program], cwd=NODE_DIR,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert [p["product_name"] for p in out["found"]["products"]] == ["Coca-Cola"]
    assert out["found"]["more"] is False
    assert out["history"]["more"] is True
    assert out["history"]["entries"][0]["kind"] == "purchase"
    assert [e["kind"] for e in out["sales"]["entries"]] == ["sale"]
    assert out["ended"] == 1 and out["other"] == "UNAUTHORIZED"
    assert out["health"]["status"] == "ok"
