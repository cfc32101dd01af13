"""A client's connection to the front door as ZeroMQ makes it (docs/simulation.md,
"Faults"): what a client sends while no front door serves (the process is down, or
still recovering) waits in its socket and reaches the next front door that serves,
unless the client closed that socket first (Lazy Pirate, LINGER 0)."""

from __future__ import annotations

from typing import Any

from simulation import Simulation


def _registered(sim: Simulation, name: str) -> Any:
    """A buyer who registered and logged in, and sends only what a test queues."""
    client = sim.buyer(name, autonomous=False, think=0.0)
    sim.run(minutes=1)
    assert client.session and not client.busy()
    return client


def _down(sim: Simulation) -> None:
    """The process dies at the next step's end; the next one starts 0.5-5 s later."""
    world = sim.world
    world.begin_crash()
    sim.run(steps=1)
    assert world.process is None


def test_a_request_sent_while_the_process_is_down_is_served_by_the_next_one() -> None:
    with Simulation(seed=5, faults="none", trace=True) as sim:
        ann = _registered(sim, "ann")
        _down(sim)
        sent = sim.world.clock.now
        ann.deposit(20)
        sim.run(minutes=1)
        assert sim.violations == []
        attempt = ann.history[-1]
        assert attempt.final is not None and attempt.final["deposit"] == 20
        # One try, answered before the client's timeout: it waited for the restart.
        assert attempt.tries == 1
        assert attempt.started == sent and sim.world.process is not None
        assert any("process 2 serves clients" in line for line in sim.trace_lines)


def test_a_socket_its_client_closed_before_the_restart_delivers_nothing() -> None:
    with Simulation(seed=5, faults="none", trace=True) as sim:
        ann = _registered(sim, "ann")
        ann.timeout = 0.2  # gives up on each socket long before the restart (0.5-5 s)
        _down(sim)
        since = len(sim.trace_lines)
        ann.deposit(20)
        sim.run(minutes=1)
        assert sim.violations == []
        attempt = ann.history[-1]
        assert attempt.final is not None and attempt.final["deposit"] == 20
        assert attempt.tries > 2  # tried on several sockets while the process was down
        # The tries on sockets closed before the front door served were never read
        # (each went with its socket); the one still open then was.
        served = [line for line in sim.trace_lines[since:] if "client_frames" in line]
        assert 1 <= len(served) < attempt.tries, (len(served), attempt.tries)
