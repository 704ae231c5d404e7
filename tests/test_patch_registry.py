"""patches/registry.py: convert's graph rewrites as one list ordered by priority (pnnx's pass_ncnn order)."""

import pytest

from ssd2ncnn.config import get_preset
from ssd2ncnn.ncnn_format import parse_param
from ssd2ncnn.patches import passes, run_passes
from ssd2ncnn.patches.registry import register

# The order convert ran them in when it named the sequence itself (before the registry): the SSD tail,
# then torchvision's prior clamp and box clip (they rewrite the tail), then the two speed rewrites.
CONVERT_ORDER = ["ssd-tail", "clamp-prior-sizes", "decode-and-clip-boxes", "se-pool-adaptive", "fuse-conv-hardswish"]


def test_passes_run_in_convert_order():
    assert [p.name for p in passes()] == CONVERT_ORDER
    assert [p.name for p in passes() if p.speed_only] == ["se-pool-adaptive", "fuse-conv-hardswish"]


def test_a_name_registers_once():
    with pytest.raises(ValueError, match="registered twice"):
        register("ssd-tail", 1)(lambda graph, cfg: 0)


def test_run_passes_reports_each_count_and_only_selects():
    text = "7767517\n2 2\nInput in 0 1 x\nReduction r 1 1 x y 0=3 1=0 -23303=2,1,2 4=1\n"
    graph = parse_param(text)
    counts = run_passes(graph, get_preset("voc300"), only=("se-pool-adaptive", "fuse-conv-hardswish"))
    assert counts == {"se-pool-adaptive": 1, "fuse-conv-hardswish": 0}
    assert graph.layer("r").type == "Pooling"


def test_a_registered_pass_runs_by_priority_then_registration_order(monkeypatch):
    from ssd2ncnn.patches import registry

    monkeypatch.setattr(registry, "_REGISTERED", [])  # probes only; convert's list is left as it was
    ran: list[str] = []

    def probe(name, touched):
        def run(graph, cfg):
            ran.append(name)
            return touched
        return run

    late, early, tie = probe("late", 3), probe("early", 1), probe("tie", 2)
    assert register("late", 20, speed_only=True)(late) is late
    register("early", 10)(early)
    register("tie", 20)(tie)
    assert passes() == [registry.Pass("early", 10, early, False), registry.Pass("late", 20, late, True),
                        registry.Pass("tie", 20, tie, False)]
    assert run_passes(parse_param("7767517\n1 1\nInput in 0 1 x\n"), get_preset("voc300")) == {"early": 1, "late": 3, "tie": 2}
    assert ran == ["early", "late", "tie"]
    assert run_passes(parse_param("7767517\n1 1\nInput in 0 1 x\n"), get_preset("voc300"), only=("tie",)) == {"tie": 2}
    with pytest.raises(ValueError, match=r"^graph pass 'tie' is registered twice$"):
        register("tie", 5)(early)
