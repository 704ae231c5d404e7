"""The conversion's graph rewrites as one ordered list, after pnnx's own registry: each pass registers
itself with a priority (`REGISTER_GLOBAL_PNNX_NCNN_GRAPH_REWRITER_PASS(CLASS, PRIORITY)`,
tools/pnnx/src/pass_ncnn.h in Tencent/ncnn), and `pass_ncnn` runs them by ascending priority, passes of
equal priority in the order they registered (a `std::map<int, std::vector<pass>>`, pass_ncnn.cpp).

A pass edits a parsed `.param` in place, reads what it needs from `SSDConfig`, and returns how many layers
it added or changed (0 when the config does not ask for it). Adding a rewrite touches its own module
(`register(name, priority)(fn)` after the function), one import line in `patches/__init__.py`, and its
test. Registered by a call, not as a decorator: mutmut (scripts/mutation.sh) does not mutate decorated
functions, and the pass bodies are what the mutation score must cover."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..config import SSDConfig
from ..ncnn_format import Graph

PassFn = Callable[[Graph, SSDConfig], int]


@dataclass(frozen=True)
class Pass:
    name: str
    priority: int  # lower runs first
    run: PassFn
    speed_only: bool  # changes speed, never results: bench's tuning re-measures these on their own


_REGISTERED: list[Pass] = []


def register(name: str, priority: int, speed_only: bool = False) -> Callable[[PassFn], PassFn]:
    def add(fn: PassFn) -> PassFn:
        if any(p.name == name for p in _REGISTERED):
            raise ValueError(f"graph pass {name!r} is registered twice")
        _REGISTERED.append(Pass(name, priority, fn, speed_only))
        return fn

    return add


def passes() -> list[Pass]:
    """Every registered pass in the order convert runs them (stable sort: registration order breaks ties)."""
    return sorted(_REGISTERED, key=lambda p: p.priority)


def run_passes(graph: Graph, cfg: SSDConfig, only: tuple[str, ...] | None = None) -> dict[str, int]:
    """Run the passes (or those named in `only`) in order; returns each one's count of layers touched."""
    return {p.name: p.run(graph, cfg) for p in passes() if only is None or p.name in only}
