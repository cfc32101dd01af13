"""A login in its two halves (vending/login.py): argon2 checks the password between
them, so the second half must find the very account whose hash was checked."""

from __future__ import annotations

from rules_world import PASSWORD, World, error

from vending import CryptoJob, parse_request
from vending.call import Call


def first_half(world: World, username: str, wsess_uid: str = "s_half") -> CryptoJob:
    req = parse_request({"op": "auth", "token": "buyer", "username": username,
                         "password": PASSWORD})
    with world.acc.db.transaction():
        job = world.acc.answer(Call(req, None, wsess_uid))
    assert isinstance(job, CryptoJob)
    return job


def test_an_account_deleted_between_the_halves_is_not_logged_in(world: World) -> None:
    ann = world.register("buyer", "ann")
    job = first_half(world, "ann")
    assert world.op(ann, "delete_user", password=PASSWORD)["ok"]
    outcome = world.second_half(job)
    assert error(outcome.reply) == "INVALID_CREDENTIALS"
    assert world.acc.db.conn.execute(
        "SELECT count(*) FROM sessions WHERE wsess_uid='s_half'").fetchone()[0] == 0


def test_the_same_name_registered_again_between_the_halves_is_another_account(
        world: World) -> None:
    ann = world.register("buyer", "ann")
    world.deposit(ann, 5)
    job = first_half(world, "ann")                 # checks the old account's hash
    assert world.op(ann, "delete_user", password=PASSWORD)["ok"]
    new = world.register("buyer", "ann")           # same name, same password
    world.deposit(new, 20)
    outcome = world.second_half(job)
    assert error(outcome.reply) == "INVALID_CREDENTIALS"
    assert world.acc.db.conn.execute(
        "SELECT count(*) FROM sessions WHERE wsess_uid='s_half'").fetchone()[0] == 0
    assert world.op(new, "profile")["active_sessions"] == 0
    # the failure counts like any other; a fresh login to the new account works
    assert world.login("buyer", "ann")["deposit"] == 20
