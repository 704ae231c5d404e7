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
