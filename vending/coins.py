"""Coins, deposits and change."""

from __future__ import annotations

__all__ = ["COINS", "make_change"]

#: Accepted coins in cents, largest first. The set is canonical (each coin is
#: worth at least twice the next smaller one, except 50/20 where 20+20+10 still
#: needs three coins against 50's one), so the greedy algorithm yields the
#: fewest coins for every amount that is a multiple of 5.
COINS: tuple[int, ...] = (100, 50, 20, 10, 5)


def make_change(cents: int) -> list[int]:
    """Return `cents` as the fewest coins, largest first.

    Every amount the machine holds is a multiple of 5 because it only ever
    accepts coins and costs that are; anything else is a bug, hence ValueError.
    """
    if cents < 0 or cents % 5:
        raise ValueError(f"cannot return {cents} cents in coins")
    change: list[int] = []
    for coin in COINS:
        count, cents = divmod(cents, coin)
        change.extend([coin] * count)
    return change
