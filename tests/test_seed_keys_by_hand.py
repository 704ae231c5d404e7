"""The seed importer's head levels against the seed repository's own module names, not against
`seed_layout` (the importer's inverse, in the same module).

ujsyehao/mobilenetv3-ssd, pytorch_model/mobilenetv3_ssd_head.py, `Mobilenetv3SSDHead` with
`depthwise_heads=True` (as ssd300_mobilenetv3_pascal.py sets): per level i, `reg_convs[i]` and
`cls_convs[i]` are `nn.Sequential(Conv2d(C, C, 3, padding=1, groups=C), BatchNorm2d(C), ReLU6,
Conv2d(C, anchors * out, 1))` with C = in_channels[i] = (672, 960, 512, 256, 256, 128), out = 4 for
reg_convs and num_classes for cls_convs, anchors = 2 + 2 * len(anchor_ratios[i]); `forward` zips the
backbone's feats with reg_convs/cls_convs in level order. The keys below are written from that text.

Levels 3 and 4 both have C = 256; with the repository config's 4,6,6,6,6,6 anchors their heads have equal
shapes, so only the outputs can tell a swap."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from seed_helpers import seed_model

from ssd2ncnn.checkpoint import load_model
from ssd2ncnn.importers.mmdet_seed import seed_layout

IN_CHANNELS = (672, 960, 512, 256, 256, 128)
DEPLOYED = (4, 6, 6, 6, 4, 4)  # the released model (its .param)
REPOSITORY = (4, 6, 6, 6, 6, 6)  # anchor_ratios in ssd300_mobilenetv3_pascal.py
RATIOS = {4: (2.0,), 6: (2.0, 3.0)}
NUM_CLASSES = 21


def head_keys(anchors: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
    """bbox_head key -> shape, from the seed's module names."""
    out: dict[str, tuple[int, ...]] = {}
    for i, (c, a) in enumerate(zip(IN_CHANNELS, anchors, strict=True)):
        for kind, per_anchor in (("reg_convs", 4), ("cls_convs", NUM_CLASSES)):
            p = f"bbox_head.{kind}.{i}"
            out |= {f"{p}.0.weight": (c, 1, 3, 3), f"{p}.0.bias": (c,)}
            out |= {f"{p}.1.{n}": (c,) for n in ("weight", "bias", "running_mean", "running_var")}
            out |= {f"{p}.1.num_batches_tracked": (), f"{p}.3.weight": (a * per_anchor, c, 1, 1), f"{p}.3.bias": (a * per_anchor,)}
    return out


def seeded_heads(anchors: tuple[int, ...], seed: int) -> dict[str, torch.Tensor]:
    """Distinct seeded values for every head tensor (a running_var is positive)."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for key, shape in head_keys(anchors).items():
        if key.endswith("num_batches_tracked"):
            out[key] = torch.tensor(100)
        elif key.endswith("running_var"):
            out[key] = torch.rand(shape, generator=g) + 0.5
        else:
            out[key] = torch.randn(shape, generator=g) * 0.2
    return out


def seed_head(sd: dict[str, torch.Tensor], kind: str, i: int, feat: torch.Tensor) -> torch.Tensor:
    """The seed's head forward, written from mobilenetv3_ssd_head.py: depthwise 3x3, BN, ReLU6, 1x1."""
    p = f"bbox_head.{kind}.{i}"
    x = F.conv2d(feat, sd[f"{p}.0.weight"], sd[f"{p}.0.bias"], padding=1, groups=feat.shape[1])
    x = F.batch_norm(x, sd[f"{p}.1.running_mean"], sd[f"{p}.1.running_var"], sd[f"{p}.1.weight"], sd[f"{p}.1.bias"], eps=1e-5)
    return F.conv2d(x.clamp(0.0, 6.0), sd[f"{p}.3.weight"], sd[f"{p}.3.bias"])


@pytest.mark.parametrize("anchors", [DEPLOYED, REPOSITORY], ids=["deployed-446644", "repository-466666"])
def test_seed_layout_has_the_repository_head_keys(anchors):
    sd = seed_layout(seed_model(ratios=[RATIOS[a] for a in anchors], spread=False))
    heads = {k: tuple(v.shape) for k, v in sd.items() if k.startswith("bbox_head.")}
    assert heads == head_keys(anchors)


@pytest.mark.parametrize("anchors", [DEPLOYED, REPOSITORY], ids=["deployed-446644", "repository-466666"])
def test_each_head_level_computes_the_seed_modules_output(anchors, tmp_path):
    model = seed_model(ratios=[RATIOS[a] for a in anchors], spread=False)
    backbone = {k: v for k, v in seed_layout(model).items() if not k.startswith("bbox_head.")}
    heads = seeded_heads(anchors, seed=7)
    torch.save({"meta": {}, "state_dict": backbone | heads}, tmp_path / "seed.pth")
    loaded = load_model(tmp_path / "seed.pth")
    x = torch.randn(1, 3, 96, 96, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        feats = loaded.features(x)
        locs, confs = loaded(x)
        for i, feat in enumerate(feats):
            assert feat.shape[1] == IN_CHANNELS[i]
            torch.testing.assert_close(locs[i], seed_head(heads, "reg_convs", i, feat), atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(confs[i], seed_head(heads, "cls_convs", i, feat), atol=1e-5, rtol=1e-5)
