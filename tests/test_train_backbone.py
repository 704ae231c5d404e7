"""ImageNet backbone weights in torchvision and timm layouts, built here from the published layer tables
(torchvision `_mobilenet_v3_conf`, timm `_gen_mobilenet_v3` arch_def) without any download."""

import pytest
import torch

from ssd2ncnn.errors import InputError
from ssd2ncnn.model.mobilenetv3 import MobileNetV3Large
from ssd2ncnn.train.backbone_weights import load_backbone_weights, map_backbone_state


def _div8(v):
    new = max(8, int(v + 4) // 8 * 8)
    return new + 8 if new < 0.9 * v else new


# torchvision mobilenet_v3_large: (in, kernel, expanded, out, use_se)
TV = [(16, 3, 16, 16, 0), (16, 3, 64, 24, 0), (24, 3, 72, 24, 0), (24, 5, 72, 40, 1), (40, 5, 120, 40, 1),
      (40, 5, 120, 40, 1), (40, 3, 240, 80, 0), (80, 3, 200, 80, 0), (80, 3, 184, 80, 0), (80, 3, 184, 80, 0),
      (80, 3, 480, 112, 1), (112, 3, 672, 112, 1), (112, 5, 672, 160, 1), (160, 5, 960, 160, 1), (160, 5, 960, 160, 1)]


def _bn(sd, name, c):
    sd[f"{name}.weight"] = torch.rand(c)
    sd[f"{name}.bias"] = torch.rand(c)
    sd[f"{name}.running_mean"] = torch.rand(c)
    sd[f"{name}.running_var"] = torch.rand(c) + 0.5
    sd[f"{name}.num_batches_tracked"] = torch.tensor(7)


def _conv_bn(sd, conv, bn, cout, cin, k, groups=1):
    sd[f"{conv}.weight"] = torch.randn(cout, cin // groups, k, k)
    _bn(sd, bn, cout)


def _se(sd, prefix, a, b, c):
    sq = _div8(c // 4)
    sd[f"{prefix}.{a}.weight"], sd[f"{prefix}.{a}.bias"] = torch.randn(sq, c, 1, 1), torch.randn(sq)
    sd[f"{prefix}.{b}.weight"], sd[f"{prefix}.{b}.bias"] = torch.randn(c, sq, 1, 1), torch.randn(c)


def torchvision_state_dict():
    torch.manual_seed(0)
    sd = {}
    _conv_bn(sd, "features.0.0", "features.0.1", 16, 3, 3)
    for i, (cin, k, exp, out, se) in enumerate(TV):
        p, j = f"features.{i + 1}.block", 0
        if exp != cin:
            _conv_bn(sd, f"{p}.0.0", f"{p}.0.1", exp, cin, 1)
            j = 1
        _conv_bn(sd, f"{p}.{j}.0", f"{p}.{j}.1", exp, exp, k, groups=exp)
        if se:
            j += 1
            _se(sd, f"{p}.{j}", "fc1", "fc2", exp)
        _conv_bn(sd, f"{p}.{j + 1}.0", f"{p}.{j + 1}.1", out, exp, 1)
    _conv_bn(sd, "features.16.0", "features.16.1", 960, 160, 1)
    sd["classifier.0.weight"], sd["classifier.0.bias"] = torch.randn(1280, 960), torch.randn(1280)
    sd["classifier.3.weight"], sd["classifier.3.bias"] = torch.randn(1000, 1280), torch.randn(1000)
    return sd


# timm mobilenetv3_large_100 stages: (kernel, expansion ratio, out, se, repeats) per arch_def entry
TIMM = [[(3, 4, 24, 0, 1), (3, 3, 24, 0, 1)], [(5, 3, 40, 1, 3)],
        [(3, 6, 80, 0, 1), (3, 2.5, 80, 0, 1), (3, 2.3, 80, 0, 2)], [(3, 6, 112, 1, 2)], [(5, 6, 160, 1, 3)]]


def timm_state_dict():
    torch.manual_seed(1)
    sd = {}
    _conv_bn(sd, "conv_stem", "bn1", 16, 3, 3)
    _conv_bn(sd, "blocks.0.0.conv_dw", "blocks.0.0.bn1", 16, 16, 3, groups=16)
    _conv_bn(sd, "blocks.0.0.conv_pw", "blocks.0.0.bn2", 16, 16, 1)
    cin = 16
    for s, stage in enumerate(TIMM, start=1):
        k_idx = 0
        for k, e, out, se, reps in stage:
            for _ in range(reps):
                p, mid = f"blocks.{s}.{k_idx}", _div8(cin * e)
                _conv_bn(sd, f"{p}.conv_pw", f"{p}.bn1", mid, cin, 1)
                _conv_bn(sd, f"{p}.conv_dw", f"{p}.bn2", mid, mid, k, groups=mid)
                if se:
                    _se(sd, f"{p}.se", "conv_reduce", "conv_expand", mid)
                _conv_bn(sd, f"{p}.conv_pwl", f"{p}.bn3", out, mid, 1)
                cin, k_idx = out, k_idx + 1
    _conv_bn(sd, "blocks.6.0.conv", "blocks.6.0.bn1", 960, 160, 1)
    sd["conv_head.weight"], sd["conv_head.bias"] = torch.randn(1280, 960, 1, 1), torch.randn(1280)
    sd["classifier.weight"], sd["classifier.bias"] = torch.randn(1000, 1280), torch.randn(1000)
    return sd


def test_torchvision_layout_loads_every_tensor(tmp_path):
    sd = torchvision_state_dict()
    path = tmp_path / "mobilenet_v3_large-8738ca79.pth"
    torch.save(sd, path)
    bb = MobileNetV3Large(1.0)
    report = load_backbone_weights(bb, path)
    assert report.source_format == "torchvision" and report.missing == []
    assert report.unused == ["classifier.0.bias", "classifier.0.weight", "classifier.3.bias", "classifier.3.weight"]
    assert len(report.loaded) == len(bb.state_dict())
    assert torch.equal(bb.stem[0].weight, sd["features.0.0.weight"])
    assert torch.equal(bb.blocks[0].depthwise[0].weight, sd["features.1.block.0.0.weight"])
    assert torch.equal(bb.blocks[3].se.fc1.weight, sd["features.4.block.2.fc1.weight"])
    assert torch.equal(bb.blocks[3].project[1].running_var, sd["features.4.block.3.1.running_var"])
    assert torch.equal(bb.last[0].weight, sd["features.16.0.weight"])
    assert "4 unused" in report.summary()


def test_timm_layout_loads_every_tensor(tmp_path):
    sd = timm_state_dict()
    path = tmp_path / "mobilenetv3_large_100_ra-f55367f5.pth"
    torch.save({"state_dict": sd}, path)  # wrapped, as training scripts often save
    bb = MobileNetV3Large(1.0)
    report = load_backbone_weights(bb, path)
    assert report.source_format == "timm" and report.missing == []
    assert report.unused == ["classifier.bias", "classifier.weight", "conv_head.bias", "conv_head.weight"]
    assert torch.equal(bb.blocks[0].project[0].weight, sd["blocks.0.0.conv_pw.weight"])
    assert torch.equal(bb.blocks[12].expand[0].weight, sd["blocks.5.0.conv_pw.weight"])  # the SSD tap block
    assert torch.equal(bb.blocks[14].se.fc2.bias, sd["blocks.5.2.se.conv_expand.bias"])
    assert torch.equal(bb.blocks[9].depthwise[1].weight, sd["blocks.3.3.bn2.weight"])
    assert torch.equal(bb.last[1].running_mean, sd["blocks.6.0.bn1.running_mean"])


def test_missing_keys_are_reported_not_fatal():
    sd = torchvision_state_dict()
    del sd["features.16.0.weight"], sd["features.5.block.2.fc2.bias"]
    _, report = map_backbone_state(MobileNetV3Large(1.0), sd)
    assert report.missing == ["blocks.4.se.fc2.bias", "last.0.weight"]


def test_shape_mismatch_is_refused(tmp_path):
    path = tmp_path / "w.pth"
    torch.save(torchvision_state_dict(), path)
    with pytest.raises(InputError, match=r"do not fit .*width multiplier"):
        load_backbone_weights(MobileNetV3Large(0.5), path)


def test_unknown_layout_and_bad_file(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7)}, path)
    with pytest.raises(InputError, match="not a MobileNetV3-Large state dict"):
        load_backbone_weights(MobileNetV3Large(1.0), path)
    with pytest.raises(InputError, match="--backbone-weights: .*does not exist"):
        load_backbone_weights(MobileNetV3Large(1.0), tmp_path / "missing.pth")
