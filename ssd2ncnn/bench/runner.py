"""Timing in rotating blocks.

ncnn's OpenMP workers and onnxruntime's thread pool keep spinning for a while after a run and steal the
cores from whatever runs next; on a 2-core machine, call-by-call interleaving made every engine 1.5-2x
slower. So each engine runs `block` consecutive timed calls, engines take turns block by block, the order
rotates every round (no engine always goes first or always follows the same neighbour), and a short pause
between blocks lets the previous engine's workers go to sleep. Each block starts with one untimed call
(thread wake-up, cache refill)."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import numpy as np

from .engines import Engine


def summarize(samples_s: Sequence[float]) -> dict:
    a = np.asarray(samples_s, dtype=np.float64) * 1000.0
    mean = float(a.mean())
    return {
        "runs": int(a.size),
        "median_ms": float(np.median(a)),
        "p90_ms": float(np.percentile(a, 90)),
        "mean_ms": mean,
        "min_ms": float(a.min()),
        "max_ms": float(a.max()),
        "throughput_fps": 1000.0 / mean if mean > 0 else 0.0,
    }


def effective_block(block: int, runs: int) -> int:
    return max(1, min(block, runs))


def time_blocks(engines: Sequence[Engine], runs: int, block: int = 5, warmup: int = 3, pause_s: float = 0.15) -> dict[str, list[float]]:
    """`runs` timed calls per engine (seconds), in rotating blocks of `block`."""
    samples: dict[str, list[float]] = {e.name: [] for e in engines}
    if not engines:
        return samples
    for e in engines:  # warm-up: first calls allocate pools, pack weights, build kernels
        e.activate()
        for _ in range(max(warmup, 0)):
            e.run()
        time.sleep(pause_s)
    block = effective_block(block, runs)
    rounds = math.ceil(runs / block)
    n = len(engines)
    for r in range(rounds):
        order = [engines[(r + i) % n] for i in range(n)]
        if (r // n) % 2 == 1:  # every other full cycle also reverses neighbours
            order = order[::-1]
        for e in order:
            todo = min(block, runs - len(samples[e.name]))
            if todo <= 0:
                continue
            e.activate()
            e.run()  # untimed: wakes the engine's threads
            for _ in range(todo):
                t0 = time.perf_counter()
                e.run()
                samples[e.name].append(time.perf_counter() - t0)
            time.sleep(pause_s)
    return samples


def round_ratios(a_s: Sequence[float], b_s: Sequence[float], block: int) -> list[float]:
    """median(a) / median(b) per round. `time_blocks` runs the k-th block of every engine in round k, so
    the two blocks of a pair ran seconds apart and slow drifts of the machine cancel out of their ratio."""
    n = min(len(a_s), len(b_s)) // block
    return [float(np.median(a_s[k * block:(k + 1) * block]) / np.median(b_s[k * block:(k + 1) * block])) for k in range(n)]


def ratio_summary(a_s: Sequence[float], b_s: Sequence[float], block: int) -> dict | None:
    """The ratio of the medians of all runs, and the lowest and highest per-round ratio (how far it moved
    within this one run)."""
    if not a_s or not b_s:
        return None
    per_round = round_ratios(a_s, b_s, block)
    return {"ratio": float(np.median(a_s) / np.median(b_s)),
            "round_low": min(per_round) if per_round else None,
            "round_high": max(per_round) if per_round else None,
            "rounds": len(per_round)}
