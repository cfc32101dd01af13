"""Known addresses (vending/known.py): an address that logged in to an account
within 30 days is spared by the account-wide failure key; durable; 16 per account."""

from __future__ import annotations

from pathlib import Path

from rules_world import PASSWORD, World, error

from vending import GATE_SCHEMA, CryptoJob, Database, Gate, parse_request
from vending.call import Call
from vending.known import KNOWN_FOR, PER_ACCOUNT

WRONG = "wrong password"


def spray(world: World, failures: int = 100) -> None:
    """`failures` wrong passwords for ann, 5 per address: no pair or address key fills."""
    for i in range(failures):
        assert error(world.auth("buyer", "ann", WRONG, peer=f"10.1.{i // 5}.1")) \
            == "INVALID_CREDENTIALS"


def test_a_spray_locks_unknown_addresses_out_but_not_the_owners(world: World) -> None:
    world.register("buyer", "ann")
    assert world.auth("buyer", "ann", peer="10.9.0.1")["ok"]  # the owner's usual address
    spray(world)
    assert error(world.auth("buyer", "ann", peer="10.9.0.2")) == "RATE_LIMITED"
    assert all(world.auth("buyer", "ann", peer="10.9.0.1")["ok"] for _ in range(10))
    # Still refused per (account, address) and per address, known or not.
    for _ in range(10):
        world.auth("buyer", "ann", WRONG, peer="10.9.0.1")
    assert error(world.auth("buyer", "ann", peer="10.9.0.1")) == "RATE_LIMITED"


def test_failures_from_a_known_address_do_not_count_account_wide(world: World) -> None:
    world.register("buyer", "ann")
    known = [f"10.2.{i}.1" for i in range(12)]
    for address in known:
        assert world.auth("buyer", "ann", peer=address)["ok"]
    for address in known:  # 9 each: 108 failures, all from known addresses
        for _ in range(9):
            world.auth("buyer", "ann", WRONG, peer=address)
    assert world.auth("buyer", "ann", peer="10.9.9.9")["ok"]


def test_an_address_is_known_for_thirty_days(world: World) -> None:
    world.register("buyer", "ann")
    assert world.auth("buyer", "ann", peer="10.9.0.1")["ok"]
    world.tick(KNOWN_FOR + 1)
    spray(world)
    assert error(world.auth("buyer", "ann", peer="10.9.0.1")) == "RATE_LIMITED"
    world.acc.housekeeping()
    assert world.acc.login.known.addresses(1) == []


def test_housekeeping_keeps_an_address_used_within_thirty_days(world: World) -> None:
    world.register("buyer", "ann")  # in-process: known from "local"
    world.tick(1)
    assert world.auth("buyer", "ann", peer="10.9.0.1")["ok"]
    world.tick(KNOWN_FOR - 60)
    world.acc.housekeeping()
    assert world.acc.login.known.addresses(1) == ["10.9.0.1", "local"]
    spray(world)
    assert world.auth("buyer", "ann", peer="10.9.0.1")["ok"]


def test_at_most_sixteen_per_account_the_oldest_dropped(world: World) -> None:
    world.register("buyer", "ann")  # in-process: "local" is the first known address
    for i in range(PER_ACCOUNT):
        world.tick(1)
        assert world.auth("buyer", "ann", peer=f"10.3.0.{i}")["ok"]
    addresses = world.acc.login.known.addresses(1)
    assert len(addresses) == PER_ACCOUNT and "local" not in addresses
    assert addresses[0] == f"10.3.0.{PER_ACCOUNT - 1}"


def test_a_deleted_account_forgets_its_addresses(world: World) -> None:
    ann = world.register("buyer", "ann")
    assert world.op(ann, "delete_user", password=PASSWORD)["ok"]
    assert world.acc.login.known.addresses(1) == []
    assert world.auth("new_buyer", "ann", peer="10.8.0.1")["ok"]
    spray(world)
    assert error(world.auth("buyer", "ann")) == "RATE_LIMITED", "local is no longer known"
    assert world.auth("buyer", "ann", peer="10.8.0.1")["ok"], "where it registered is"


def test_known_addresses_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "gatekeeper.sqlite3"
    first = Gate(Database(path, GATE_SCHEMA))
    with first.db.transaction():
        req = parse_request({"op": "auth", "token": "new_buyer", "username": "ann",
                             "password": PASSWORD})
        job = first.answer(Call(req, "10.9.0.1", "s1"))
        assert isinstance(job, CryptoJob) and job.finish(job.run()).reply["ok"]
    first.db.close()
    again = Gate(Database(path, GATE_SCHEMA))
    with again.db.transaction():
        assert again.login.known.is_known("buyer_ann", "10.9.0.1", again.clock())
        assert not again.login.known.is_known("buyer_ann", "10.9.0.2", again.clock())


def test_a_login_with_no_address_is_known_as_local(world: World) -> None:
    """In-process callers (`vending.local`) send no address: they count as "local"."""
    assert world.auth("new_buyer", "ann", peer="10.8.0.1")["ok"]
    world.tick(1)
    assert world.auth("buyer", "ann")["ok"]  # no address: remembered as "local"
    assert len(world.acc.login.known.addresses(1)) == 2
    spray(world)
    assert error(world.auth("buyer", "ann", peer="10.9.0.2")) == "RATE_LIMITED"
    assert world.auth("buyer", "ann")["ok"], "local is known"


def test_a_known_address_logging_in_again_is_the_newest_and_drops_none(world: World) -> None:
    world.register("buyer", "ann")  # in-process: "local"
    for i in range(PER_ACCOUNT - 1):
        world.tick(1)
        assert world.auth("buyer", "ann", peer=f"10.3.0.{i}")["ok"]
    world.tick(1)
    assert world.auth("buyer", "ann")["ok"]  # "local" again: the oldest, now the newest
    addresses = world.acc.login.known.addresses(1)
    assert len(addresses) == PER_ACCOUNT and addresses[0] == "local"
    world.tick(1)
    assert world.auth("buyer", "ann", peer="10.4.0.1")["ok"]  # a new one: the oldest goes
    addresses = world.acc.login.known.addresses(1)
    assert len(addresses) == PER_ACCOUNT and "10.3.0.0" not in addresses
    assert addresses[:2] == ["10.4.0.1", "local"]
