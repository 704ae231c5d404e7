"""The data set scan (`data/scan.py`): what is handled is counted in one warning line per kind, what cannot
be handled is one error line with the count and the first few files, `--strict` makes warnings errors, and
a `train` that fails on its input leaves nothing behind. Expected boxes and counts are worked out by hand
from the edits each test makes to a copy of the fixtures."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from ssd2ncnn.cli import cli
from ssd2ncnn.data.folders import open_dataset
from ssd2ncnn.errors import InputError

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "data"
NAMES = ("background", "circle", "square", "triangle")
TINY = ["--input-size", "64", "--width-mult", "0.25", "--batch-size", "3", "--workers", "0", "--epochs", "1"]


@pytest.fixture
def voc(tmp_path):
    return Path(shutil.copytree(FIXTURES / "voc", tmp_path / "voc"))


@pytest.fixture
def coco(tmp_path):
    return Path(shutil.copytree(FIXTURES / "coco", tmp_path / "coco"))


def _edit_coco(root: Path, edit) -> dict:
    path = root / "annotations" / "instances_train.json"
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))
    return doc


def _add_voc_object(root: Path, image_id: str, box: tuple[int, int, int, int], name: str = "circle") -> None:
    """An object appended to Annotations/<image_id>.xml (000000 is 100 x 100 px)."""
    xml = root / "Annotations" / f"{image_id}.xml"
    x1, y1, x2, y2 = box
    obj = (f"<object><name>{name}</name><difficult>0</difficult><bndbox><xmin>{x1}</xmin><ymin>{y1}</ymin>"
           f"<xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>")
    xml.write_text(xml.read_text().replace("</annotation>", obj + "</annotation>"))


def _train(args: list[str]):
    return CliRunner().invoke(cli, ["train", *args])


def test_coco_negative_width_box_is_dropped_and_counted(coco):
    doc = _edit_coco(coco, lambda d: d["annotations"][0].update(bbox=[4, 25, -60, 45]))  # image 1, 000000.jpg
    src = open_dataset(coco, "train")
    first = src.records[0]
    assert first.path.name == "000000.jpg"
    kept = [a["bbox"] for a in doc["annotations"] if a["image_id"] == 1][1:]
    assert len(first.boxes) == len(kept) and len(first.boxes) >= 1
    np.testing.assert_allclose(first.boxes[0], [47, 34, 47 + 66, 34 + 43])  # the second annotation, [x, y, w, h]
    assert src.scan is not None and src.scan.warnings == ("1 zero-area or negative-size box(es), dropped: 000000.jpg",)
    with pytest.raises(InputError, match=r"\[train\]: 1 zero-area or negative-size box\(es\), dropped: 000000.jpg \(--strict\)"):
        open_dataset(coco, "train", strict=True)


def test_voc_boxes_past_the_border_are_clipped_or_dropped_and_counted(voc):
    _add_voc_object(voc, "000000", (90, 10, 140, 30))  # 40 px past the right border: clipped to 100
    _add_voc_object(voc, "000000", (150, 150, 180, 170))  # wholly outside the 100 x 100 image: dropped
    _add_voc_object(voc, "000000", (-40, 20, -10, 30))  # and another: two boxes counted, one file named
    _add_voc_object(voc, "000001", (5, 5, 30, 30))  # (000001 is checked for silence below)
    src = open_dataset(voc, "train", NAMES)
    rec = next(r for r in src.records if r.path.name == "000000.jpg")
    assert (rec.width, rec.height) == (100, 100)
    assert len(rec.boxes) == 4 + 1  # four fixture objects, the clipped one; the outside ones are gone
    np.testing.assert_array_equal(rec.boxes[-1], [89, 9, 100, 30])  # 1-based VOC corners -> 0-based, clipped
    assert src.scan is not None and src.scan.warnings == (
        "1 box(es) more than 1 px past the image border, clipped to it: 000000.jpg",
        "2 box(es) wholly outside the image, dropped: 000000.jpg",
    )


def test_a_box_within_the_tolerance_is_clipped_without_a_word(voc):
    _add_voc_object(voc, "000000", (80, 80, 101, 101))  # 1 px past: VOC's inclusive corners, the stated tolerance
    src = open_dataset(voc, "train", NAMES)
    rec = next(r for r in src.records if r.path.name == "000000.jpg")
    np.testing.assert_array_equal(rec.boxes[-1], [79, 79, 100, 100])
    assert src.scan is not None and src.scan.warnings == ()


def test_malformed_voc_annotations_are_one_error_with_the_count_and_the_first_few(voc):
    ann = voc / "Annotations"
    (ann / "000000.xml").write_text("<annotation><size><width>100</width>")  # not well-formed
    text = (ann / "000001.xml").read_text()
    (ann / "000001.xml").write_text(text.replace("<xmin>", "<xmin>1O", 1))  # a letter O: not a number
    (ann / "000002.xml").write_text(text.replace("<size>", "<sighs>").replace("</size>", "</sighs>"))
    (ann / "000003.xml").write_text(text.replace("<difficult>0</difficult>", "<difficult>maybe</difficult>", 1))
    with pytest.raises(InputError) as exc:
        open_dataset(voc, "train", NAMES)
    msg = str(exc.value)
    assert "\n" not in msg
    assert "4 malformed annotation(s): 000000.xml: not well-formed XML" in msg
    assert "000001.xml: <xmin> '1O" in msg and "is not a number" in msg and "000002.xml: no <size>" in msg
    assert "and 1 more file(s) (fix or remove those files)" in msg


def test_malformed_coco_file_and_entries(coco):
    _edit_coco(coco, lambda d: (d["annotations"][0].update(bbox=["4", 25, 60, 45]), d["annotations"][1].pop("category_id"),
                                d["images"][1].update(width=109.5)))
    with pytest.raises(InputError, match=r"3 malformed annotation\(s\): instances_train.json: image 2: 'width' and 'height' must be "
                                         r"whole numbers > 0, got 109.5, 103, instances_train.json: annotation 1: 'bbox' \['4', 25, 60, 45\]"):
        open_dataset(coco, "train")
    (coco / "annotations" / "instances_train.json").write_text('{"images": [')
    with pytest.raises(InputError, match="instances_train.json: not valid JSON"):
        open_dataset(coco, "train", NAMES)


def test_unknown_classes_are_an_error(coco, voc):
    _edit_coco(coco, lambda d: d["annotations"][2].update(category_id=99))
    with pytest.raises(InputError, match=r"1 object\(s\) of a class the model does not have: instances_train.json: annotation 3 "
                                         r"\(category 99 is not in 'categories'\) \(the model has \['circle', 'square', 'triangle'\]"):
        open_dataset(coco, "train")
    with pytest.raises(InputError, match=r"categories \['circle', 'square', 'triangle'\] \(in id order\) are not the model's classes"):
        open_dataset(FIXTURES / "coco", "train", ("background", "circle", "triangle", "square"))


def test_missing_and_unreadable_images_are_one_error(voc):
    (voc / "JPEGImages" / "000001.jpg").unlink()
    (voc / "JPEGImages" / "000002.jpg").write_text("not a picture")
    with pytest.raises(InputError) as exc:
        open_dataset(voc, "train", NAMES)
    msg = str(exc.value)
    assert "1 missing image file(s): JPEGImages/000001.jpg (restore the files or remove them from the split)" in msg
    assert "1 unreadable image file(s): JPEGImages/000002.jpg (is not an image Pillow can read: found text starting 'not a picture')" in msg


def test_train_stops_before_it_starts_and_leaves_nothing(coco, tmp_path):
    (coco / "images" / "000003.jpg").unlink()  # listed in instances_train.json
    out = tmp_path / "run"
    res = _train(["--data", str(coco), *TINY, "-o", str(out)])
    assert res.exit_code == 2, res.output
    err = res.output.strip()
    assert err.startswith("error: ") and "\n" not in err and "1 missing image file(s): images/000003.jpg" in err
    assert not out.exists()
    out.mkdir()  # a run folder that already exists gains nothing either
    assert _train(["--data", str(coco), *TINY, "-o", str(out)]).exit_code == 2
    assert list(out.iterdir()) == []


def test_strict_turns_the_warning_into_an_error(voc, tmp_path):
    _add_voc_object(voc, "000002", (5, 5, 4, 10))  # VOC's inclusive corners: x from 4 to 4, zero width
    res = _train(["--data", str(voc), *TINY, "--strict", "-o", str(tmp_path / "run")])
    assert res.exit_code == 2, res.output
    assert res.output.strip() == (f"error: {voc} [train]: 1 zero-area or negative-size box(es), dropped: 000002.jpg (--strict)")
    assert not (tmp_path / "run").exists()


def test_tensorboard_without_the_package_is_a_one_line_error(voc, tmp_path):
    import importlib.util

    if importlib.util.find_spec("tensorboard") is not None:
        pytest.skip("tensorboard is installed here; the error is for machines without it")
    res = _train(["--data", str(voc), *TINY, "--tensorboard", "-o", str(tmp_path / "run")])
    assert res.exit_code == 2
    assert res.output.strip() == "error: --tensorboard needs the tensorboard package: pip install tensorboard (or drop --tensorboard)"
    assert not (tmp_path / "run").exists()


def test_an_annotated_size_that_differs_from_the_file_is_replaced_and_said(voc):
    xml = voc / "Annotations" / "000000.xml"
    xml.write_text(xml.read_text().replace("<width>100</width>", "<width>120</width>"))  # the JPEG is 100 x 100
    src = open_dataset(voc, "train", NAMES)
    rec = next(r for r in src.records if r.path.name == "000000.jpg")
    assert (rec.width, rec.height) == (100, 100)
    assert src.scan is not None and src.scan.warnings == (
        "1 annotation(s) whose image size differs from the image file's (the file's is used): 000000.jpg (120x100 annotated, 100x100 in the file)",)
