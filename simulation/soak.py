"""A soak: many seeds side by side in worker processes (`vending simulate --seeds N
--jobs J`).

A seed's history depends only on the seed, the build and the options, never on
which process runs it or what ran before it there (each run builds its own world:
its clock, RNG, databases and actors), so seeds can run in parallel, one process
per core, and the results are printed in seed order as they come. `spawn` workers:
a fresh interpreter each, so no state of the parent (and no thread of it) is
inherited.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from vending import sqlite_library

if TYPE_CHECKING:
    from .api import Result

__all__ = ["run_seeds"]


def _one(job: tuple[int, dict[str, Any]]) -> tuple[Result, list[str]]:
    from .cli import run_seed  # in the worker

    seed, options = job
    return run_seed(seed, **options)


def run_seeds(seeds: range, jobs: int, **options: Any) -> Iterator[tuple[Result, list[str]]]:
    """Each seed's (result, trace lines), in seed order; `options` as `run_seed`'s.
    One job runs here, in this process, as a plain loop does."""
    if jobs <= 1:
        for seed in seeds:
            yield _one((seed, options))
        return
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(min(jobs, len(seeds)), initializer=sqlite_library.configure) as pool:
        yield from pool.imap(_one, [(seed, options) for seed in seeds], chunksize=1)
