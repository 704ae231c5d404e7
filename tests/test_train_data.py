"""VOC, COCO and synthetic data sets on disk, and the one-line errors for user mistakes."""

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ssd2ncnn.config import get_preset
from ssd2ncnn.data.coco import category_mapping
from ssd2ncnn.data.folders import dataset_class_names, dataset_splits, open_dataset
from ssd2ncnn.data.synthetic import write_synthetic_coco, write_synthetic_voc
from ssd2ncnn.errors import InputError
from ssd2ncnn.train.data import TorchDetectionDataset, collate
from ssd2ncnn.train.transforms import EvalTransform

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "data"


def test_voc_fixture_classes_splits_and_difficult_flags():
    root = FIXTURES / "voc"
    assert dataset_class_names(root) == ("background", "circle", "square", "triangle")
    assert dataset_splits(root) == ["test", "train", "val"]
    src = open_dataset(root, "train")
    assert len(src) == 6 and src.num_classes == 4
    rec = next(r for r in src.records if r.path.stem == "000002")
    # 000002.xml flags its tiny shape difficult
    assert rec.difficult.any() and not rec.difficult.all()
    small = rec.boxes[rec.difficult]
    assert np.all(small[:, 2:] - small[:, :2] <= 13)
    # VOC 1-based inclusive -> 0-based continuous: xmin - 1
    first = ET.parse(root / "Annotations" / "000002.xml").getroot().find("object/bndbox")
    assert rec.boxes[0, 0] == float(first.findtext("xmin")) - 1 and rec.boxes[0, 2] == float(first.findtext("xmax"))
    assert all(Image.open(r.path).size == (r.width, r.height) for r in src.records)


def test_voc_difficult_dropped_for_training_kept_for_eval():
    src = open_dataset(FIXTURES / "voc", "train")
    i = next(k for k, r in enumerate(src.records) if r.difficult.any())
    cfg = get_preset("ssdlite320", input_size=64, num_classes=4)
    n_all, n_easy = len(src.records[i].labels), int((~src.records[i].difficult).sum())
    _, boxes, labels, _ = TorchDetectionDataset(src, EvalTransform(cfg))[i]
    assert len(labels) == n_easy < n_all
    _, boxes, labels, _ = TorchDetectionDataset(src, EvalTransform(cfg), drop_difficult=False)[i]
    assert len(labels) == n_all
    items = [TorchDetectionDataset(src, EvalTransform(cfg))[k] for k in range(3)]
    images, boxes, labels, index = collate(items)
    gmax = max(len(it[2]) for it in items)
    assert images.shape == (3, 64, 64, 3) and images.dtype == torch.uint8 and boxes.shape == (3, gmax, 4) and torch.equal(index, torch.arange(3))
    for k, (_, b, lab, _) in enumerate(items):  # real rows first, then padding rows (label -1, zero box)
        assert torch.equal(boxes[k, : len(b)], b) and torch.equal(labels[k, : len(lab)], lab)
        assert (labels[k, len(lab):] == -1).all() and (boxes[k, len(b):] == 0).all()


def test_coco_fixture_category_mapping_and_crowd():
    root = FIXTURES / "coco"
    doc = json.loads((root / "annotations" / "instances_train.json").read_text())
    assert [c["id"] for c in doc["categories"]] == [2, 5, 8]  # sparse ids, as in COCO
    assert dataset_class_names(root) == ("background", "circle", "square", "triangle")
    src = open_dataset(root, "train")
    crowd = [a for a in doc["annotations"] if a["iscrowd"]]
    assert crowd, "fixture must contain crowd boxes"
    labels = np.concatenate([r.labels for r in src.records])
    assert set(labels.tolist()) <= {1, 2, 3}
    assert int(np.concatenate([r.difficult for r in src.records]).sum()) == len(crowd)
    # an annotation's box: COCO [x, y, w, h] -> x1y1x2y2, label via the id mapping
    ann = doc["annotations"][0]
    rec = src.records[[im["id"] for im in doc["images"]].index(ann["image_id"])]
    x, y, w, h = ann["bbox"]
    assert any(np.allclose(b, [x, y, x + w, y + h]) for b in rec.boxes)
    assert category_mapping(doc["categories"]) == {2: 1, 5: 2, 8: 3}
    assert category_mapping([{"id": 90}, {"id": 1}]) == {1: 1, 90: 2}


def test_synthetic_generator_is_deterministic_and_real_voc(tmp_path):
    a = write_synthetic_voc(tmp_path / "a", 6, seed=4, splits={"train": 0.5, "test": 0.5})
    b = write_synthetic_voc(tmp_path / "b", 6, seed=4, splits={"train": 0.5, "test": 0.5})
    for name in ("Annotations/000003.xml", "ImageSets/Main/train.txt", "ImageSets/Main/test.txt"):
        assert (a / name).read_text() == (b / name).read_text()
    assert (a / "JPEGImages" / "000005.jpg").read_bytes() == (b / "JPEGImages" / "000005.jpg").read_bytes()
    src = open_dataset(a, "test")
    assert len(src) == 3 and all(len(r.labels) >= 1 for r in src.records)
    for r in src.records:
        assert np.all(r.boxes[:, :2] >= 0) and np.all(r.boxes[:, 2] <= r.width) and np.all(r.boxes[:, 3] <= r.height)
    c = write_synthetic_coco(tmp_path / "c", 5, seed=1, shapes=("ring", "cross"))
    assert dataset_class_names(c) == ("background", "ring", "cross")  # COCO: category id order


def test_missing_dir_is_input_error(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        open_dataset(tmp_path / "nope", "train")
    with pytest.raises(InputError, match="neither a VOC folder"):
        open_dataset(tmp_path, "train")


def test_unknown_split_and_empty_split(tmp_path):
    root = tmp_path / "voc"
    shutil.copytree(FIXTURES / "voc", root)
    with pytest.raises(InputError, match="split 'trainval' not found"):
        open_dataset(root, "trainval")
    (root / "ImageSets" / "Main" / "train.txt").write_text("")
    with pytest.raises(InputError, match="lists no images"):
        open_dataset(root, "train")
    (root / "ImageSets" / "Main" / "train.txt").write_text("000000\n")
    (root / "JPEGImages" / "000000.jpg").unlink()
    with pytest.raises(InputError, match="1 missing image file.s.: JPEGImages/000000.jpg"):
        open_dataset(root, "train")


def test_class_mismatch_is_input_error():
    with pytest.raises(InputError, match=r"8 object.s. of a class the model does not have: 000000.xml \('triangle'\), .* and 2 more file.s. \(the model has \['circle', 'square'\]"):
        open_dataset(FIXTURES / "voc", "train", ("background", "circle", "square"))
    with pytest.raises(InputError, match="has 3 categories but the model has 4 classes"):
        open_dataset(FIXTURES / "coco", "train", ("background", "a", "b", "c", "d"))


def test_synthetic_object_size_and_count_options(tmp_path):
    root = write_synthetic_voc(tmp_path / "big", 8, seed=3, splits={"train": 1.0}, size_range=(128, 160),
                               object_range=(0.3, 0.5), max_objects=2, p_difficult=0.0)
    src = open_dataset(root, "train")
    for r in src.records:
        assert 128 <= r.width <= 160 and 128 <= r.height <= 160 and 1 <= len(r.labels) <= 2 and not r.difficult.any()
        side = np.sqrt((r.boxes[:, 2] - r.boxes[:, 0]) * (r.boxes[:, 3] - r.boxes[:, 1]))
        assert np.all(side >= 0.3 * min(r.width, r.height) - 2) and np.all(side <= 0.5 * min(r.width, r.height) + 2)


def test_augmentation_depends_on_epoch_and_image_not_on_workers(tmp_path):
    """The same batches with no workers and with two persistent ones, epoch after epoch; a new epoch
    draws new augmentation. (Persistent workers keep their own copy of the dataset, so a per-epoch
    reseed in the main process would never reach them.)"""
    from ssd2ncnn.train.distributed import DistInfo
    from ssd2ncnn.train.loader import make_train_loader
    from ssd2ncnn.train.options import TrainOptions

    cfg = get_preset("ssdlite320", input_size=64, num_classes=4)
    src = open_dataset(FIXTURES / "voc", "train", ("background", "circle", "square", "triangle"))

    def epochs(workers):
        opts = TrainOptions(data=FIXTURES / "voc", out=tmp_path, batch_size=3, workers=workers, repeat=2)
        ld = make_train_loader(opts, cfg, src, DistInfo(), torch.device("cpu"))
        out = []
        for epoch in range(2):
            ld.start_epoch(100 + epoch, epoch)
            out.append([(images, boxes, index) for images, boxes, _, index in ld.loader])
        return out

    a, b = epochs(0), epochs(2)
    for ea, eb in zip(a, b, strict=True):
        for (ia, ba, xa), (ib, bb, xb) in zip(ea, eb, strict=True):
            assert torch.equal(xa, xb) and torch.equal(ia, ib) and torch.equal(ba, bb)
    assert not torch.equal(a[0][0][0], a[1][0][0])  # epoch 2 is not epoch 1 again


@pytest.mark.slow  # a loader worker process
def test_a_file_that_fails_to_decode_in_a_worker_is_one_line(tmp_path):
    """The header reads (the scan passes it), the pixels do not: torch re-raises the worker's error with its
    traceback in the message; `loader_batches` gives the loader's own line back."""
    from torch.utils.data import DataLoader

    from ssd2ncnn.images import load_image
    from ssd2ncnn.train.data import loader_batches

    root = Path(shutil.copytree(FIXTURES / "voc", tmp_path / "voc"))
    jpg = root / "JPEGImages" / "000001.jpg"
    jpg.write_bytes(jpg.read_bytes()[:1500])  # cut inside the scan data, after the header
    with pytest.raises(InputError) as direct:
        load_image(jpg)
    src = open_dataset(root, "train")  # the header is fine: no finding
    loader = DataLoader(TorchDetectionDataset(src, EvalTransform(get_preset("ssdlite320", input_size=64, num_classes=4))),
                        batch_size=2, num_workers=1, collate_fn=collate)
    with pytest.raises(InputError) as exc:
        list(loader_batches(loader))
    assert str(exc.value) == str(direct.value) and "\n" not in str(exc.value)
    assert str(exc.value).startswith(f"cannot decode image {jpg} (JPEG)")
