"""Timers shared by the benchmarks (imported as ``_timing``: the script's folder is on sys.path)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence


def timed(fn: Callable[[], object], sync: Callable[[], object] | None = None) -> float:
    """Seconds one call of ``fn`` takes; ``sync`` (e.g. ``torch.cuda.synchronize``) is called
    before and after, so that queued GPU work is counted where it belongs."""
    if sync is not None:
        sync()
    t = time.perf_counter()
    fn()
    if sync is not None:
        sync()
    return time.perf_counter() - t


def best_of(fn: Callable[[], object], repeats: int = 5,
            sync: Callable[[], object] | None = None) -> tuple[float, object]:
    """The best time of ``repeats`` calls of ``fn`` after one warm-up call, and the last result."""
    out = fn()                                                       # warm-up
    if sync is not None:
        sync()
    best = float("inf")
    for _ in range(repeats):
        if sync is not None:
            sync()
        t = time.perf_counter()
        out = fn()
        if sync is not None:
            sync()
        best = min(best, time.perf_counter() - t)
    return best, out


def best_time(fn: Callable[[], object], repeats: int = 5,
              sync: Callable[[], object] | None = None) -> float:
    """The best time of ``repeats`` calls of ``fn`` after one warm-up call (seconds)."""
    return best_of(fn, repeats, sync)[0]


def interleaved(fns: Sequence[Callable[[], object]], repeats: int = 5,
                sync: Callable[[], object] | None = None) -> list[tuple[float, object]]:
    """Best time and last result of each function, after one warm-up call of each.

    The functions take turns in every round, so that a busy moment of the machine (shared
    with others) hits them alike.
    """
    outs = [fn() for fn in fns]                                      # warm-up
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for k, fn in enumerate(fns):
            if sync is not None:
                sync()
            t = time.perf_counter()
            outs[k] = fn()
            if sync is not None:
                sync()
            best[k] = min(best[k], time.perf_counter() - t)
    return list(zip(best, outs))
