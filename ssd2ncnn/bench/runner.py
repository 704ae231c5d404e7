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
    block = max(1, min(block, runs))
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
