"""actors/runtime.py's LoopActor copies the body of one of Pykka's private methods and
calls five others. Pykka is pinned to the exact version they were read from; this
test fails, naming what to re-read, when an upgrade changes any of them."""

from __future__ import annotations

import hashlib
import inspect
import re
import tomllib
from importlib.metadata import version
from pathlib import Path

import pykka
import pytest
from pykka import _envelope

#: The pinned version, and a digest of the source of each private method LoopActor
#: relies on, as read from that version.
PINNED = "4.5.0"
SOURCES = {
    "_actor_loop_running": "4109f316d2be434e",  # its body is copied in LoopActor._handle
    "_actor_loop_setup": "2687bc3726569305",
    "_actor_loop_teardown": "1b35ca263372af74",
    "_handle_receive": "2851d2852985bbb5",
    "_handle_failure": "e0d63e0c57e4cbca",
    "_stop": "1d3216e9851326ac",
}
#: `ActorRef.stop`, whose non-blocking form `actors.runtime.stop_soon` does without
#: its futures (it tells the same `_ActorStop`).
REF_STOP = "d15e2a4e8da929d9"
#: `ActorRef.tell`, which `LoopActor.tell_here` does without its two calls.
REF_TELL = "81738afe0af6c059"


def test_pyproject_pins_the_exact_pykka_version() -> None:
    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    pins = [d for d in project["project"]["dependencies"] if re.match(r"pykka\b", d)]
    assert pins == [f"pykka=={PINNED}"]


def test_the_installed_pykka_is_the_pinned_one() -> None:
    installed = version("pykka")
    assert installed == PINNED, (
        f"pykka {installed} is installed, LoopActor was written against {PINNED}: "
        "re-read actors/runtime.py against the new Pykka, then update PINNED and SOURCES")


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_the_private_methods_loop_actor_uses_are_unchanged(name: str) -> None:
    source = inspect.getsource(getattr(pykka.Actor, name))
    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    assert digest == SOURCES[name], (
        f"pykka.Actor.{name} changed since {PINNED}: actors/runtime.py copies or calls it; "
        "re-read both, adapt LoopActor, then update the digest here")


def test_the_stop_that_stop_soon_tells_is_pykkas() -> None:
    source = inspect.getsource(pykka.ActorRef.stop)
    assert hashlib.sha256(source.encode()).hexdigest()[:16] == REF_STOP, (
        f"pykka.ActorRef.stop changed since {PINNED}: actors/runtime.py's stop_soon tells"
        " what it asks; re-read both, then update the digest here")
    assert "_ActorStop()" in source


def test_the_envelope_and_registry_shapes_loop_actor_uses() -> None:
    assert inspect.signature(_envelope.Envelope).parameters.keys() >= {"message", "reply_to"}
    assert "block" in inspect.signature(pykka.ActorRegistry.stop_all).parameters


def test_the_tell_that_tell_here_does_is_pykkas() -> None:
    source = inspect.getsource(pykka.ActorRef.tell)
    assert hashlib.sha256(source.encode()).hexdigest()[:16] == REF_TELL, (
        f"pykka.ActorRef.tell changed since {PINNED}: actors/runtime.py's"
        " LoopActor.tell_here does what it does; re-read both, then update the digest here")
