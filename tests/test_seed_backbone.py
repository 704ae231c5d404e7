"""ImageNet weights for the seed backbone in xiaolai-sqlai/mobilenetv3's layout (`mobilenetv3.old.py`,
the `mbv3_large.old.pth.tar` the seed's config loads), built here from that file's layer table."""

import pytest
import torch
from test_train_backbone import torchvision_state_dict

from ssd2ncnn.config import get_preset
from ssd2ncnn.errors import InputError
from ssd2ncnn.model.factory import build_model
from ssd2ncnn.train.backbone_weights import load_backbone_weights

# xiaolai MobileNetV3_Large bneck: (kernel, in, expand, out, SE, stride)
XIAOLAI = [(3, 16, 16, 16, 0, 1), (3, 16, 64, 24, 0, 2), (3, 24, 72, 24, 0, 1), (5, 24, 72, 40, 1, 2), (5, 40, 120, 40, 1, 1),
           (5, 40, 120, 40, 1, 1), (3, 40, 240, 80, 0, 2), (3, 80, 200, 80, 0, 1), (3, 80, 184, 80, 0, 1), (3, 80, 184, 80, 0, 1),
           (3, 80, 480, 112, 1, 1), (3, 112, 672, 112, 1, 1), (5, 112, 672, 160, 1, 1), (5, 160, 672, 160, 1, 2), (5, 160, 960, 160, 1, 1)]


def _bn(sd, name, c):
    sd |= {f"{name}.weight": torch.rand(c), f"{name}.bias": torch.rand(c), f"{name}.running_mean": torch.rand(c),
           f"{name}.running_var": torch.rand(c) + 0.5, f"{name}.num_batches_tracked": torch.tensor(9)}


def xiaolai_state_dict(later_layout=False):
    torch.manual_seed(0)
    sd = {"conv1.weight": torch.randn(16, 3, 3, 3)}
    _bn(sd, "bn1", 16)
    for i, (k, cin, exp, out, se, stride) in enumerate(XIAOLAI):
        p = f"bneck.{i}"
        sd[f"{p}.conv1.weight"] = torch.randn(exp, cin, 1, 1)
        sd[f"{p}.conv2.weight"] = torch.randn(exp, 1, k, k)
        sd[f"{p}.conv3.weight"] = torch.randn(out, exp, 1, 1)
        for j, c in ((1, exp), (2, exp), (3, out)):
            _bn(sd, f"{p}.bn{j}", c)
        if se and not later_layout:  # SE on the output, pool outside the Sequential: convs 0, 3, BNs 1, 4
            sd[f"{p}.se.se.0.weight"], sd[f"{p}.se.se.3.weight"] = torch.randn(out // 4, out, 1, 1), torch.randn(out, out // 4, 1, 1)
            _bn(sd, f"{p}.se.se.1", out // 4)
            _bn(sd, f"{p}.se.se.4", out)
        elif se:  # the later mobilenetv3.py: SE on the expansion, pool at se.se.0
            sd[f"{p}.se.se.1.weight"], sd[f"{p}.se.se.4.weight"] = torch.randn(exp // 4, exp, 1, 1), torch.randn(exp, exp // 4, 1, 1)
            _bn(sd, f"{p}.se.se.2", exp // 4)
        if stride == 1 and cin != out:
            name = "skip" if later_layout else "shortcut"
            sd[f"{p}.{name}.0.weight"] = torch.randn(out, cin, 1, 1)
            _bn(sd, f"{p}.{name}.1", out)
    sd["conv2.weight"] = torch.randn(960, 160, 1, 1)
    _bn(sd, "bn2", 960)
    sd["linear3.weight"], sd["linear3.bias"] = torch.randn(1280, 960), torch.randn(1280)
    _bn(sd, "bn3", 1280)
    sd["linear4.weight"], sd["linear4.bias"] = torch.randn(1000, 1280), torch.randn(1000)
    return sd


def _seed_model():
    return build_model(get_preset("voc300", arch="seed"))


def test_xiaolai_weights_load_onto_the_seed_backbone(tmp_path):
    sd = xiaolai_state_dict()
    path = tmp_path / "mbv3_large.old.pth.tar"
    torch.save({"epoch": 150, "best_acc": 75.2, "state_dict": {f"module.{k}": v for k, v in sd.items()}}, path)
    model = _seed_model()
    extras_before = {k: v.clone() for k, v in model.backbone.state_dict().items() if k.startswith("extra_convs.")}
    report = load_backbone_weights(model.backbone, path)
    assert report.source_format == "xiaolai" and report.missing == []
    assert sorted(report.unused) == sorted(k for k in sd if k.startswith(("linear3.", "bn3.", "linear4.")))
    ours = model.backbone.state_dict()
    loaded = [k for k in sd if not k.startswith(("linear3.", "bn3.", "linear4."))]
    assert len(report.loaded) == len(loaded)
    for k in loaded:
        assert torch.equal(ours[k], sd[k]), k
    for k, v in extras_before.items():  # the SSD extras are not ImageNet layers: untouched
        assert torch.equal(ours[k], v)


def test_later_xiaolai_layout_and_wrong_architecture_are_refused(tmp_path):
    later = tmp_path / "mbv3_large.pth"
    torch.save(xiaolai_state_dict(later_layout=True), later)
    with pytest.raises(InputError, match="later layout"):
        load_backbone_weights(_seed_model().backbone, later)
    old = tmp_path / "old.pth"
    torch.save(xiaolai_state_dict(), old)
    ssdlite = build_model(get_preset("voc300"))
    with pytest.raises(InputError, match="--arch seed takes xiaolai"):
        load_backbone_weights(ssdlite.backbone, old)
    tv = tmp_path / "tv.pth"
    torch.save(torchvision_state_dict(), tv)
    with pytest.raises(InputError, match="torchvision weights do not fit"):
        load_backbone_weights(_seed_model().backbone, tv)
    narrow = build_model(get_preset("voc300", arch="seed", width_mult=0.5))
    with pytest.raises(InputError, match="do not fit"):
        load_backbone_weights(narrow.backbone, old)
