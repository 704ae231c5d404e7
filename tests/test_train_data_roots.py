"""Training on the data sets people use: several roots at once (VOC2007 + VOC2012 style, per-root
splits, --val-data), COCO 2017 exactly as it unpacks, and the recipe options (step schedule, warm-up
iterations, repeat, no clipping)."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from ssd2ncnn.checkpoint import read_checkpoint
from ssd2ncnn.cli import cli
from ssd2ncnn.data.folders import (
    common_class_names,
    dataset_splits,
    open_dataset,
    open_datasets,
    resolve_split,
)
from ssd2ncnn.data.synthetic import write_synthetic_coco, write_synthetic_voc
from ssd2ncnn.errors import InputError
from ssd2ncnn.train.schedule import LRSchedule

TINY = ["--preset", "ssdlite320", "--input-size", "64", "--width-mult", "0.25", "--batch-size", "3", "--workers", "0", "--lr", "0.01"]
SMALL = {"size_range": (64, 96), "object_range": (0.3, 0.6), "max_objects": 2, "p_difficult": 0.0}


def _run(args):
    return CliRunner().invoke(cli, args, catch_exceptions=False)


@pytest.fixture(scope="module")
def voc_pair(tmp_path_factory):
    """Two VOC roots as VOCdevkit holds them: VOC2007 (trainval + test) and VOC2012 (trainval only)."""
    base = tmp_path_factory.mktemp("VOCdevkit")
    v07 = write_synthetic_voc(base / "VOC2007", 6, seed=1, splits={"trainval": 0.5, "test": 0.5}, **SMALL)
    v12 = write_synthetic_voc(base / "VOC2012", 4, seed=2, splits={"trainval": 1.0}, **SMALL)
    return v07, v12


def test_several_roots_concatenate_their_splits(voc_pair):
    v07, v12 = voc_pair
    src = open_datasets([v07, v12], ["trainval"], common_class_names([v07, v12]))
    assert len(src) == 3 + 4 and src.split == "VOC2007/trainval+VOC2012/trainval"
    assert {r.path.parent.parent.name for r in src.records} == {"VOC2007", "VOC2012"}
    with pytest.raises(InputError, match="lists 3 values for 2 data roots"):
        open_datasets([v07, v12], ["trainval", "trainval", "test"], common_class_names([v07]))


def test_roots_whose_classes_disagree_are_a_clear_error(voc_pair, tmp_path):
    other = write_synthetic_voc(tmp_path / "rings", 3, seed=3, shapes=("ring", "cross"), splits={"trainval": 1.0}, **SMALL)
    res = CliRunner().invoke(cli, ["train", "--data", str(voc_pair[0]), "--data", str(other), "--train-split", "trainval",
                                   *TINY, "--epochs", "1", "-o", str(tmp_path / "o")])
    assert res.exit_code == 2 and res.output.startswith("error: data roots disagree on classes") and "--classes" in res.output
    assert not (tmp_path / "o").exists()  # nothing half written


def test_train_on_two_voc_roots_with_the_recipe_options(voc_pair, tmp_path):
    v07, v12 = voc_pair
    out = tmp_path / "run"
    res = _run(["train", "--data", str(v07), "--data", str(v12), "--train-split", "trainval", "--val-data", str(v07),
                "--val-split", "test", *TINY, "--epochs", "3", "--repeat", "2", "--schedule", "step", "--lr-steps", "1,2",
                "--warmup-iters", "2", "--warmup-ratio", "0.1", "--grad-clip", "0", "--log-interval", "3", "-o", str(out)])
    assert res.exit_code == 0, res.output
    log = (out / "train.log").read_text()
    assert "7 train images x2, 3 val images" in log and "4 steps/epoch" in log  # 14 images / batch 3, drop_last
    history = json.loads((out / "metrics.json").read_text())
    assert [round(r["lr"], 6) for r in history] == [0.001, 0.0001, 0.0001]  # lr after each epoch: steps at 1, 2
    assert all("map07" in r for r in history)
    last = read_checkpoint(out / "last.pth")
    assert last["scheduler"] == {"step": 12, "total": 12, "warmup": 2}
    assert last["meta"]["data"] == [str(v07), str(v12)]


def test_coco_2017_layout_works_as_unpacked(tmp_path):
    root = write_synthetic_coco(tmp_path / "coco", 8, seed=5, coco2017=True, **SMALL)
    assert sorted(p.name for p in (root / "annotations").iterdir()) == [
        "captions_train2017.json", "captions_val2017.json", "instances_train2017.json", "instances_val2017.json"]
    assert (root / "train2017").is_dir() and (root / "val2017").is_dir() and not (root / "images").exists()
    assert dataset_splits(root) == ["train2017", "val2017"]  # the captions files are not splits
    assert resolve_split(root, "train") == "train2017" and resolve_split(root, "test") == "test"
    assert open_dataset(root, "val").split == "val2017"
    out = tmp_path / "run"
    res = _run(["train", "--data", str(root), *TINY, "--epochs", "1", "-o", str(out)])  # default splits train/val
    assert res.exit_code == 0, res.output
    assert "6 train images, 2 val images" in (out / "train.log").read_text()
    res = _run(["eval", str(out / "best.pth"), "--data", str(root), "--split", "val2017"])
    assert res.exit_code == 0 and "mAP" in res.output
    with pytest.raises(InputError, match="splits here: train2017, val2017"):
        open_dataset(root, "test")


def test_step_schedule_with_linear_warmup_from_a_ratio():
    s = LRSchedule(base_lr=0.02, total=250, steps_per_epoch=10, warmup=5, warmup_ratio=0.1, kind="step", lr_steps=(16, 22))
    assert s(0) == pytest.approx(0.002) and s(5) == pytest.approx(0.02)
    assert s(159) == pytest.approx(0.02) and s(160) == pytest.approx(0.002) and s(220) == pytest.approx(0.0002)
    assert s(2) == pytest.approx(0.02 * (0.1 + 0.9 * 2 / 5))
    c = LRSchedule(base_lr=1.0, total=100, steps_per_epoch=10, warmup=10)
    assert c(0) == pytest.approx(0.001) and c(10) == pytest.approx(1.0) and c(100) == pytest.approx(0.01)
    assert c(55) == pytest.approx(0.01 + 0.99 * 0.5)  # half-way down the cosine


@pytest.mark.parametrize("args, message", [
    (["--schedule", "step"], "--schedule step needs --lr-steps"),
    (["--schedule", "step", "--lr-steps", "3"], "must rise and lie between 1 and --epochs - 1"),
    (["--lr-steps", "1,x"], "'--lr-steps': expects comma-separated integers like 16,22"),
    (["--repeat", "0"], "--repeat, --log-interval and --eval-interval must be >= 1"),
    (["--eval-interval", "0"], "--eval-interval must be >= 1"),  # was a ZeroDivisionError after an epoch
    (["--workers", "-1"], "--workers must be >= 0"),
    (["--batch-size", "1"], "BatchNorm needs at least 2 images per process"),  # was a ValueError at the first step
    (["--momentum", "1.5"], "--momentum must be in [0, 1)"),
    (["--weight-decay", "-1"], "--weight-decay >= 0"),
    (["--warmup-ratio", "0"], "--warmup-ratio must be in (0, 1]"),
    (["--warmup-iters", "-5"], "--warmup-iters/--warmup-epochs and --grad-clip >= 0"),
    (["--val-data", "{voc}", "--val-split", "nope"], "has no split 'nope'"),
])
def test_recipe_option_mistakes_are_one_line_errors(tmp_path, args, message):
    voc = Path(__file__).resolve().parent.parent / "fixtures" / "data" / "voc"
    args = [a.replace("{voc}", str(voc)) for a in args]
    res = CliRunner().invoke(cli, ["train", "--data", str(voc), *TINY, "--epochs", "3", *args, "-o", str(tmp_path / "o")])
    assert res.exit_code == 2, res.output
    assert res.output.startswith("error: ") and "\n" not in res.output.strip() and message in res.output


def test_the_documented_seed_recipe_command_parses():
    """docs/training.md's VOC07+12 command uses only options `train` has, with values it accepts."""
    import re
    import shlex

    from ssd2ncnn.commands.train import command as train_command

    doc = (Path(__file__).resolve().parent.parent / "docs" / "training.md").read_text()
    block = re.search(r"torchrun --nproc_per_node 8 -m ssd2ncnn train \\\n(.*?-o runs/voc0712)", doc, re.S)
    assert block, "recipe command not found in docs/training.md"
    args = shlex.split(block.group(1).replace("\\\n", " "))
    ctx = train_command.make_context("train", args)
    p = ctx.params
    assert p["data"] == (Path("VOCdevkit/VOC2007"), Path("VOCdevkit/VOC2012")) and p["train_split"] == ("trainval",)
    assert (p["lr"], p["momentum"], p["weight_decay"], p["grad_clip"]) == (0.02, 0.9, 5e-4, 35.0)
    assert (p["schedule"], p["lr_steps"], p["warmup_iters"], p["warmup_ratio"]) == ("step", (16, 22), 500, 0.1)
    assert (p["epochs"], p["repeat"], p["input_size"], p["preset"]) == (25, 10, 300, "voc300")
