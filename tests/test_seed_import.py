"""The seed's mmdetection v1 checkpoint: detected from its keys, loaded into `SeedSSD`, converted by the
normal export/pnnx/patch path and verified against PyTorch."""

import pytest
import torch
from click.testing import CliRunner
from seed_helpers import seed_model, write_mmdet_checkpoint

from ssd2ncnn.checkpoint import load_model
from ssd2ncnn.cli import cli
from ssd2ncnn.config import VOC_CLASSES
from ssd2ncnn.model.seed_mobilenetv3 import SeedSSD
from ssd2ncnn.modelfolder import read_info


@pytest.fixture(scope="module")
def seed_ckpt(tmp_path_factory):
    model = seed_model(seed=3)
    path = write_mmdet_checkpoint(model, tmp_path_factory.mktemp("seed") / "epoch_25.pth")
    return model, path


def test_seed_checkpoint_is_detected_and_loads_exactly(seed_ckpt):
    ref, path = seed_ckpt
    model = load_model(path)  # --from auto
    assert isinstance(model, SeedSSD) and not model.training
    cfg = model.cfg
    assert cfg.arch == "seed" and cfg.preset == "voc300" and cfg.class_names == VOC_CLASSES
    assert [cfg.priors_per_cell(k) for k in range(6)] == [4, 6, 6, 6, 4, 4]
    assert (cfg.conf_threshold, cfg.nms_threshold, cfg.keep_top_k) == (0.02, 0.45, 200)
    assert cfg.mean == (123.675, 116.28, 103.53) and cfg.std == (1.0, 1.0, 1.0) and cfg.rgb
    x = torch.randn(1, 3, 300, 300, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        for a, b in zip(*(sum(m(x), []) for m in (model, ref.eval()))):
            assert torch.equal(a, b)
    assert isinstance(load_model(path, source="seed"), SeedSSD)


def test_repository_config_anchors_and_other_class_counts_come_from_the_heads(tmp_path):
    # the repository's config file says 6 anchors on the last two levels; a 5-class model has no VOC names
    model = seed_model(ratios=((2.0,),) + ((2.0, 3.0),) * 5, num_classes=5)
    path = write_mmdet_checkpoint(model, tmp_path / "m.pth", classes=("a", "b", "c", "d"))
    cfg = load_model(path).cfg
    assert [cfg.priors_per_cell(k) for k in range(6)] == [4, 6, 6, 6, 6, 6]
    assert cfg.class_names == ("background", "a", "b", "c", "d")
    cfg = load_model(write_mmdet_checkpoint(model, tmp_path / "n.pth", classes=None)).cfg
    assert cfg.class_names[1:] == ("class1", "class2", "class3", "class4")


def test_bad_seed_checkpoints_are_one_line_errors(seed_ckpt, tmp_path):
    _, path = seed_ckpt
    runner = CliRunner()
    res = runner.invoke(cli, ["convert", str(path), "-o", str(tmp_path / "o1"), "--num-classes", "5"])
    assert res.exit_code == 2 and "contradicts the checkpoint's class heads" in res.output
    res = runner.invoke(cli, ["convert", str(path), "-o", str(tmp_path / "o1"), "--preset", "ssdlite320"])
    assert res.exit_code == 2 and "drop --preset ssdlite320" in res.output and not (tmp_path / "o1").exists()
    assert load_model(path, preset="voc300").cfg.preset == "voc300"  # the seed's own preset is no contradiction
    obj = torch.load(path, weights_only=True)
    del obj["state_dict"]["backbone.bneck.3.se.se.0.weight"]
    obj["state_dict"]["backbone.bneck.4.conv1.weight"] = torch.zeros(7, 40, 1, 1)
    torch.save(obj, tmp_path / "broken.pth")
    res = runner.invoke(cli, ["convert", str(tmp_path / "broken.pth"), "-o", str(tmp_path / "o2")])
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert "1 shape mismatches (backbone.bneck.4.conv1.weight" in res.output and "1 missing (backbone.bneck.3.se.se.0.weight)" in res.output
    assert not (tmp_path / "o2").exists()
    obj["state_dict"]["bbox_head.reg_convs.2.3.weight"] = torch.zeros(20, 512, 1, 1)
    torch.save(obj, tmp_path / "heads.pth")
    res = runner.invoke(cli, ["convert", str(tmp_path / "heads.pth"), "-o", str(tmp_path / "o3"), "--from", "seed"])
    assert res.exit_code == 2 and "level 2: box head has 20 outputs" in res.output
    # the seed's other head option (depthwise_heads=False): one 3x3 conv per level, not supported
    for k in range(6):
        for kind in ("reg_convs", "cls_convs"):
            for key in [key for key in obj["state_dict"] if key.startswith(f"bbox_head.{kind}.{k}.")]:
                del obj["state_dict"][key]
            obj["state_dict"][f"bbox_head.{kind}.{k}.weight"] = torch.zeros(16, 8, 3, 3)
    torch.save(obj, tmp_path / "plain_heads.pth")
    res = runner.invoke(cli, ["convert", str(tmp_path / "plain_heads.pth"), "-o", str(tmp_path / "o4")])
    assert res.exit_code == 2 and "expected depthwise heads" in res.output


def test_another_layout_with_from_seed_is_named_as_such(tmp_path):
    # an ssd2ncnn-style bare state dict (no seed keys) forced through --from seed
    from ssd2ncnn.config import get_preset
    from ssd2ncnn.model.factory import build_model

    torch.save(build_model(get_preset("ssdlite320", width_mult=0.25)).state_dict(), tmp_path / "other.pth")
    res = CliRunner().invoke(cli, ["convert", str(tmp_path / "other.pth"), "-o", str(tmp_path / "o"), "--from", "seed"])
    assert res.exit_code == 2 and "is not ujsyehao/mobilenetv3-ssd's mmdetection v1 layout" in res.output
    assert "Traceback" not in res.output and not (tmp_path / "o").exists()


@pytest.mark.slow
def test_seed_checkpoint_converts_and_verifies(seed_ckpt, tmp_path):
    _, path = seed_ckpt
    out = tmp_path / "out"
    runner = CliRunner()
    res = runner.invoke(cli, ["convert", str(path), "-o", str(out)])
    assert res.exit_code == 0, res.output
    meta = read_info(out)
    assert meta.config.arch == "seed" and meta.class_names == VOC_CLASSES
    res = runner.invoke(cli, ["verify", str(path), str(out), "--sizes", "300,320", "--num-images", "1"])
    assert res.exit_code == 0, res.output
