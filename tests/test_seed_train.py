"""`ssd2ncnn train --arch seed` and `init --arch seed` on tiny seed-architecture models."""

from pathlib import Path

import torch
from click.testing import CliRunner

from ssd2ncnn.checkpoint import load_model, read_checkpoint
from ssd2ncnn.cli import cli
from ssd2ncnn.model.seed_mobilenetv3 import SeedSSD

VOC = Path(__file__).resolve().parent.parent / "fixtures" / "data" / "voc"
TINY = ["--preset", "voc300", "--arch", "seed", "--input-size", "64", "--width-mult", "0.25", "--batch-size", "3",
        "--workers", "0", "--lr", "0.01"]


def test_train_arch_seed_one_epoch(tmp_path):
    out = tmp_path / "run"
    runner = CliRunner()
    res = runner.invoke(cli, ["train", "--data", str(VOC), *TINY, "--epochs", "1", "-o", str(out)], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    model = load_model(out / "best.pth")
    assert isinstance(model, SeedSSD) and model.cfg.arch == "seed" and model.cfg.width_mult == 0.25
    assert model.cfg.class_names == ("background", "circle", "square", "triangle")
    last = read_checkpoint(out / "last.pth")
    torch.manual_seed(0)  # the run's --seed: the same initial weights as the run started from
    start = SeedSSD(model.cfg).state_dict()
    for key in ("backbone.conv1.weight", "backbone.bneck.3.se.se.0.weight", "conf_heads.0.3.weight", "loc_heads.0.3.bias"):
        trained = last["state_dict"][key]
        assert trained.shape == start[key].shape and torch.isfinite(trained).all()
        assert not torch.equal(trained, start[key]), key
    assert last["history"][0]["loss"] > 0
    with torch.no_grad():
        locs, confs = model(torch.zeros(1, 3, 64, 64))
    assert [t.shape[-1] for t in locs] == [4, 2, 1, 1, 1, 1]
    res = runner.invoke(cli, ["train", "--data", str(VOC), *TINY[:2], "--arch", "ssdlite", "--epochs", "2",
                              "--resume", str(out / "last.pth"), "-o", str(out)])
    assert res.exit_code == 2 and "--arch ssdlite contradicts the resumed checkpoint (arch seed)" in res.output


def test_init_arch_seed(tmp_path):
    res = CliRunner().invoke(cli, ["init", "--preset", "voc300", "--arch", "seed", "--width-mult", "0.25", "-o", str(tmp_path / "m.pth")])
    assert res.exit_code == 0, res.output
    assert "voc300 (seed)" in res.output
    model = load_model(tmp_path / "m.pth")
    assert isinstance(model, SeedSSD) and model.cfg.preset == "voc300"
    res = CliRunner().invoke(cli, ["init", "--preset", "voc300", "--arch", "mobilenetv2", "-o", str(tmp_path / "n.pth")])
    assert res.exit_code == 2 and "mobilenetv2" in res.output
