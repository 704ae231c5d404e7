"""`ssd2ncnn train` / `eval` / `synth` end to end on tiny models, resume, and one-line user errors."""

import json
import shutil
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from ssd2ncnn.checkpoint import load_model, read_checkpoint
from ssd2ncnn.cli import cli

pytestmark = pytest.mark.slow  # converts, trains or runs processes: `pytest -m "not slow"` skips it

VOC = Path(__file__).resolve().parent.parent / "fixtures" / "data" / "voc"
COCO = Path(__file__).resolve().parent.parent / "fixtures" / "data" / "coco"
TINY = ["--preset", "ssdlite320", "--input-size", "64", "--width-mult", "0.25", "--batch-size", "3", "--workers", "0", "--lr", "0.01"]


def _run(args):
    return CliRunner().invoke(cli, args, catch_exceptions=False)


@pytest.fixture(scope="module")
def one_epoch(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "run"
    res = _run(["train", "--data", str(VOC), *TINY, "--epochs", "1", "-o", str(out)])
    assert res.exit_code == 0, res.output
    return out


def test_train_writes_loadable_checkpoints_and_logs(one_epoch):
    out = one_epoch
    for name in ("best.pth", "last.pth", "train.log", "metrics.csv", "metrics.json", "curves.png"):
        assert (out / name).is_file(), name
    with Image.open(out / "curves.png") as im:  # a real PNG of the stated size (the picture: look at it)
        assert im.format == "PNG" and im.size == (1200, 800)
        im.load()
    model = load_model(out / "best.pth")
    assert model.cfg.class_names == ("background", "circle", "square", "triangle")
    assert model.cfg.input_size == 64 and model.cfg.width_mult == 0.25
    last = read_checkpoint(out / "last.pth")
    assert last["epoch"] == 0 and last["scheduler"]["step"] == 2 and "state" in last["optimizer"]
    assert last["meta"]["class_names"][1:] == ["circle", "square", "triangle"]
    history = json.loads((out / "metrics.json").read_text())
    assert [r["epoch"] for r in history] == [1] and history[0]["loss"] > 0 and 0 <= history[0]["map07"] <= 1
    log = (out / "train.log").read_text()
    assert "6 train images, 2 val images" in log and "epoch 1:" in log and "data scan: 8 images in" in log
    with torch.no_grad():
        locs, confs = model(torch.zeros(1, 3, 64, 64))
    assert confs[0].shape[1] == model.cfg.priors_per_cell(0) * 4


def test_resume_equals_uninterrupted_run(one_epoch, tmp_path):
    resumed = tmp_path / "resumed"
    shutil.copytree(one_epoch, resumed)
    res = _run(["train", "--data", str(VOC), *TINY, "--epochs", "2", "--resume", str(resumed / "last.pth"), "-o", str(resumed)])
    assert res.exit_code == 0, res.output
    straight = tmp_path / "straight"
    assert _run(["train", "--data", str(VOC), *TINY, "--epochs", "2", "-o", str(straight)]).exit_code == 0
    a, b = read_checkpoint(resumed / "last.pth"), read_checkpoint(straight / "last.pth")
    assert a["epoch"] == b["epoch"] == 1 and a["scheduler"]["step"] == 4
    assert [r["epoch"] for r in a["history"]] == [1, 2]
    for k, v in b["state_dict"].items():
        torch.testing.assert_close(a["state_dict"][k], v, rtol=1e-5, atol=1e-6, msg=k)


def test_eval_command(one_epoch, tmp_path):
    out = tmp_path / "eval.json"
    res = _run(["eval", str(one_epoch / "best.pth"), "--data", str(VOC), "--split", "test", "--json", str(out),
                "--pr-plot", str(tmp_path / "pr.png")])
    assert res.exit_code == 0, res.output
    with Image.open(tmp_path / "pr.png") as im:  # three class panels of 320 px in a row (plots.PR_PANEL)
        assert im.format == "PNG" and im.size == (960, 360)
    assert "mAP" in res.output and "circle" in res.output
    doc = json.loads(out.read_text())
    assert 0 <= doc["map07"] <= 1 and set(doc["per_class"]) == {"circle", "square", "triangle"}


def test_train_on_coco_without_val_split_and_synth(tmp_path):
    data = tmp_path / "coco"
    shutil.copytree(COCO, data)
    (data / "annotations" / "instances_val.json").unlink()
    doc = json.loads((data / "annotations" / "instances_train.json").read_text())
    doc["annotations"][0]["bbox"][2] = -60  # a negative width (image 000000.jpg): dropped, and said
    (data / "annotations" / "instances_train.json").write_text(json.dumps(doc))
    res = _run(["train", "--data", str(data), *TINY, "--epochs", "1", "--num-classes", "4", "-o", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    warning = "[train]: 1 zero-area or negative-size box(es), dropped: 000000.jpg"
    assert res.output.startswith(f"warning: {data} {warning}\n")
    assert "no val split" in (tmp_path / "r" / "train.log").read_text() and warning in (tmp_path / "r" / "train.log").read_text()
    assert load_model(tmp_path / "r" / "best.pth").cfg.num_classes == 4
    res = _run(["synth", "-o", str(tmp_path / "s"), "--num", "4", "--seed", "2"])
    assert res.exit_code == 0 and len(list((tmp_path / "s" / "JPEGImages").glob("*.jpg"))) == 4


@pytest.mark.parametrize(
    "args, message",
    [
        (["--data", "{tmp}/missing"], "does not exist"),
        (["--data", str(VOC), "--preset", "yolo"], "'yolo' is not one of 'ssdlite320', 'voc300'"),
        (["--data", str(VOC), "--num-classes", "21"], "--num-classes 21 (with background) does not match"),
        (["--data", str(VOC), "--classes", "circle,square"], "8 object(s) of a class the model does not have"),
        (["--data", "{tmp}/empty"], "holds no annotated objects"),
        (["--data", "{tmp}/empty", "--classes", "circle"], "lists no images"),
    ],
)
def test_user_mistakes_are_one_line_errors(tmp_path, args, message):
    (tmp_path / "empty" / "Annotations").mkdir(parents=True)
    (tmp_path / "empty" / "ImageSets" / "Main").mkdir(parents=True)
    (tmp_path / "empty" / "ImageSets" / "Main" / "train.txt").write_text("")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    res = CliRunner().invoke(cli, ["train", *args, "--epochs", "1", "-o", str(tmp_path / "o")])
    assert res.exit_code == 2, res.output
    err = res.output.strip()
    assert err.startswith("error: ") and "\n" not in err and message in err


def test_resume_from_non_training_checkpoint(one_epoch, tmp_path):
    res = CliRunner().invoke(cli, ["train", "--data", str(VOC), *TINY, "--resume", str(one_epoch / "best.pth"), "-o", str(tmp_path)])
    assert res.exit_code == 2 and "not a training checkpoint" in res.output


def test_adamw_optimizer_and_synth_size_options(tmp_path):
    res = _run(["train", "--data", str(VOC), *TINY, "--epochs", "1", "--optimizer", "adamw", "--lr", "0.001",
                "--weight-decay", "0.05", "-o", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    assert "exp_avg" in next(iter(read_checkpoint(tmp_path / "r" / "last.pth")["optimizer"]["state"].values()))
    res = _run(["synth", "-o", str(tmp_path / "s"), "--num", "3", "--image-size", "128,160", "--object-size", "0.25,0.6",
                "--max-objects", "3", "--p-difficult", "0"])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(cli, ["synth", "-o", str(tmp_path / "t"), "--object-size", "0.6,0.2"])
    assert res.exit_code == 2 and "--object-size" in res.output
