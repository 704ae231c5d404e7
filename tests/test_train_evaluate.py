"""Batched evaluation: `detect_batch` gives exactly the detections of the per-image `detect` (ncnn
DetectionOutput's reference), and `predict` with loader workers gives what the old per-image loop gave."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from ssd2ncnn.assets import DEMO_CHECKPOINT
from ssd2ncnn.checkpoint import load_model
from ssd2ncnn.config import get_preset
from ssd2ncnn.data.folders import open_dataset
from ssd2ncnn.model.postprocess import class_scores, detect
from ssd2ncnn.model.ssdlite import flatten_heads
from ssd2ncnn.train.data import TorchDetectionDataset, collate, network_input
from ssd2ncnn.train.detect_batch import detect_batch
from ssd2ncnn.train.evaluate import model_priors, predict
from ssd2ncnn.train.transforms import EvalTransform

REPO = Path(__file__).resolve().parent.parent
VOC = REPO / "fixtures" / "data" / "voc"


def _priors(cfg, n):
    gen = torch.Generator().manual_seed(9)
    xy = torch.rand(n, 2, generator=gen) * 0.8
    return torch.cat([xy, xy + 0.05 + torch.rand(n, 2, generator=gen) * 0.3], 1)


@pytest.mark.parametrize("seed, classes, top_k, keep", [(0, 4, 300, 100), (1, 21, 20, 7), (2, 3, 5, 3)])
def test_detect_batch_equals_per_image_detect(seed, classes, top_k, keep):
    cfg = dataclasses.replace(get_preset("ssdlite320", num_classes=classes), nms_top_k=top_k, keep_top_k=keep)
    gen = torch.Generator().manual_seed(seed)
    n, p = 5, 400
    priors = _priors(cfg, p)
    loc = torch.randn(n, p, 4, generator=gen) * 0.5
    logits = torch.randn(n, p, classes, generator=gen) * 3
    logits[1] = torch.round(logits[1])  # tied scores: the stable orders must agree
    logits[2, :, 1:] = -20  # an image without detections
    scores = class_scores(logits, cfg)
    got = detect_batch(loc, scores, priors, cfg)
    assert len(got) == n and got[2].shape == (0, 6)
    for i in range(n):
        ref = detect(loc[i], scores[i], priors, cfg)
        assert got[i].dtype == np.float32 and np.array_equal(got[i], ref), i
    assert sum(len(g) for g in got) > 0


def _predict_per_image(model, source, batch_size):
    """evaluate.predict as it was: the network on batches, then `detect` image by image, no workers."""
    cfg, priors, out = model.cfg, model_priors(model), [None] * len(source)
    loader = DataLoader(TorchDetectionDataset(source, EvalTransform(cfg), drop_difficult=False), batch_size=batch_size, collate_fn=collate)
    model.eval()
    with torch.no_grad():
        for images, _, _, index in loader:
            loc, conf = flatten_heads(*model(network_input(images, cfg)), cfg.num_classes)
            scores = class_scores(conf.float(), cfg)
            for k, i in enumerate(index.tolist()):
                dets = detect(loc[k], scores[k], priors, cfg)
                rec = source.records[i]
                dets[:, 2:6] *= np.array([rec.width, rec.height, rec.width, rec.height], dtype=np.float32)
                out[i] = dets
    return out


def test_predict_with_workers_gives_the_per_image_detections():
    model = load_model(DEMO_CHECKPOINT)
    source = open_dataset(VOC, "train", model.cfg.class_names)
    got = predict(model, source, batch_size=4, workers=1)
    ref = _predict_per_image(model, source, batch_size=4)
    assert sum(len(d) for d in ref) > 0
    for a, b in zip(got, ref, strict=True):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("args", [["--batch-size", "0"], ["--workers", "-1"]])
def test_eval_rejects_bad_loader_options_before_loading(tmp_path, args):
    """Before: a ValueError traceback from torch's DataLoader, after loading the model and the data."""
    from click.testing import CliRunner

    from ssd2ncnn.cli import cli

    res = CliRunner().invoke(cli, ["eval", str(tmp_path / "model.pth"), "--data", str(tmp_path), *args])
    assert res.exit_code == 2 and f"Invalid value for '{args[0]}'" in res.output, res.output


def test_evaluation_in_training_feeds_the_model_its_memory_format():
    """A channels-last model (training on CUDA) is fed channels-last input: no layout change per layer.
    The detections do not depend on the layout (the same numbers in another order of memory)."""
    model = load_model(DEMO_CHECKPOINT).to(memory_format=torch.channels_last)
    source = open_dataset(VOC, "test", model.cfg.class_names)
    seen: list[bool] = []
    hook = model.register_forward_pre_hook(lambda m, args: seen.append(args[0].is_contiguous(memory_format=torch.channels_last)))
    try:
        last = predict(model, source, batch_size=2, channels_last=True)
        assert seen == [True]
        plain = predict(model, source, batch_size=2)
        assert seen == [True, False]
    finally:
        hook.remove()
    for a, b in zip(last, plain, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
