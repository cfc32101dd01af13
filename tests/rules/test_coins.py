"""make_change: fewest coins, largest first, checked against a brute-force minimum."""

from __future__ import annotations

from functools import lru_cache

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vending import COINS, make_change

LIMIT = 20_000


@lru_cache(maxsize=1)
def fewest() -> list[int]:
    """fewest()[k]: the minimum number of coins summing to 5*k (dynamic programming)."""
    best = [0] + [LIMIT] * (LIMIT // 5)
    for k in range(1, len(best)):
        best[k] = 1 + min(best[k - c // 5] for c in COINS if c // 5 <= k)
    return best


def check(cents: int) -> None:
    change = make_change(cents)
    assert sum(change) == cents
    assert all(c in COINS for c in change)
    assert change == sorted(change, reverse=True)
    assert len(change) == fewest()[cents // 5]


def test_coins_are_the_spec_set() -> None:
    assert sorted(COINS) == [5, 10, 20, 50, 100]


def test_every_small_amount_exhaustively() -> None:
    for cents in range(0, 5001, 5):
        check(cents)


@given(st.integers(0, LIMIT // 5).map(lambda k: 5 * k))
def test_fewest_coins_property(cents: int) -> None:
    check(cents)


@given(st.integers(0, 1_000_000 // 5).map(lambda k: 5 * k))
def test_up_to_the_deposit_cap(cents: int) -> None:
    change = make_change(cents)
    assert sum(change) == cents
    assert change == sorted(change, reverse=True)
    # Above 100 cents every extra coin is a 100: the rest is the small-amount optimum.
    assert len(change) == cents // 100 + fewest()[(cents % 100) // 5]


@pytest.mark.parametrize("cents,coins", [
    (0, []), (5, [5]), (30, [20, 10]), (40, [20, 20]), (60, [50, 10]), (65, [50, 10, 5]),
    (95, [50, 20, 20, 5]), (185, [100, 50, 20, 10, 5]), (300, [100, 100, 100]),
])
def test_known_amounts(cents: int, coins: list[int]) -> None:
    assert make_change(cents) == coins


@pytest.mark.parametrize("cents", [-5, -1, 1, 3, 7, 99, 1001])
def test_non_coin_amounts_are_refused(cents: int) -> None:
    with pytest.raises(ValueError):
        make_change(cents)
