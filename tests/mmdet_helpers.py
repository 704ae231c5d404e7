"""The mmdet golden folders (scripts/make_mmdet_golden.py) turned back into checkpoints in the forms mmdetection
writes them, and the rules under which mmdetection's detections may differ from DetectionOutput's."""

from __future__ import annotations

import contextlib
import sys
import types
from pathlib import Path

import numpy as np
import torch
from torchvision_helpers import GOLDEN, state_dict

CASES = ("mmdet-coco80", "mmdet-custom3")
LEVEL_PRIORS_320 = (20 * 20 * 6, 10 * 10 * 6, 5 * 5 * 6, 3 * 3 * 6, 2 * 2 * 6, 1 * 1 * 6)
# DeltaXYWHBBoxCoder's clamp of the size deltas, |dw * 0.2| <= |log(16 / 1000)|, in raw regression units
DWH_CLAMP_RAW = abs(float(np.log(16 / 1000))) / 0.2

__all__ = ["CASES", "GOLDEN", "fake_modules", "write_checkpoint"]


@contextlib.contextmanager
def fake_modules(classes: dict[str, type]):
    """Make `module.Name` importable while pickling (classes keyed "module.Name"), then gone again: the
    loading side sees a name that exists nowhere, like mmengine's on a machine without mmengine."""
    added = []
    for dotted, cls in classes.items():
        module, name = dotted.rsplit(".", 1)
        parts = module.split(".")
        for k in range(1, len(parts) + 1):  # pickle imports the module, so its parents must exist too
            prefix = ".".join(parts[:k])
            if prefix not in sys.modules:
                sys.modules[prefix] = types.ModuleType(prefix)
                added.append(prefix)
        cls.__module__, cls.__qualname__ = module, name
        setattr(sys.modules[module], name, cls)
    try:
        yield
    finally:
        for module in added:
            del sys.modules[module]


class HistoryBuffer:
    """Shaped like mmengine.logging.HistoryBuffer: numpy arrays and a counter in its __dict__."""

    def __init__(self, values: list[float]):
        self._log_history = np.asarray(values)
        self._count_history = np.ones(len(values))
        self.max_length = 1000000


class ConfigDict(dict):
    """Shaped like mmengine.config.ConfigDict: a dict subclass (pickled with SETITEMS)."""


def write_checkpoint(folder: Path, meta: dict, path: Path) -> Path:
    """mmengine's Runner checkpoint (3.x) with mmengine-like objects, or mmcv's (2.x) with meta["CLASSES"]."""
    sd = state_dict(folder, meta)
    classes = tuple(meta["classes"])
    if meta["form"] == "2.x":
        payload = {"meta": {"mmdet_version": "2.25.3", "CLASSES": classes, "config": "model = dict(type='SingleStageDetector')",
                            "epoch": 600, "iter": 1000, "mmcv_version": "1.7.1", "time": "Thu Jan  1 00:00:00 2026"},
                   "state_dict": sd, "optimizer": {"state": {}, "param_groups": [{"lr": 0.015, "momentum": 0.9}]}}
        torch.save(payload, path)
        return path
    hub = {"log_scalars": {"train/loss": HistoryBuffer([2.5, 2.25, 2.0])}, "runtime_info": {"epoch": 120, "iter": 360},
           "resumed_keys": {"epoch": True}}
    cfg = ConfigDict(model=ConfigDict(type="SingleStageDetector"), default_scope="mmdet")
    payload = {"meta": {"cfg": cfg, "seed": 0, "epoch": 120, "iter": 360, "mmengine_version": "0.10.7",
                        "dataset_meta": {"classes": classes, "palette": [(220, 20, 60)] * len(classes)},
                        "best_score": np.float64(0.213)},
               "state_dict": sd, "message_hub": hub, "optimizer": {"state": {}, "param_groups": []}, "param_schedulers": []}
    with fake_modules({"mmengine.logging.history_buffer.HistoryBuffer": HistoryBuffer, "mmengine.config.config.ConfigDict": ConfigDict}):
        torch.save(payload, path)
    return path


def nms_pre_floor(conf: np.ndarray, num_classes: int, score_thr: float, nms_pre: int) -> float:
    """mmdet's per-level `nms_pre` (filter_scores_and_topk: the first nms_pre (prior, class) pairs above
    score_thr, per level) dropped candidates DetectionOutput still weighs: the best of them. Rows scoring
    above it are unaffected (NMS only lets higher scores suppress lower ones); 0 when nothing was dropped."""
    scores = conf.reshape(-1, num_classes)[:, 1:]
    floor, start = 0.0, 0
    for count in LEVEL_PRIORS_320:
        level = scores[start:start + count].ravel()
        start += count
        above = np.sort(level[level > score_thr])[::-1]
        if len(above) > nms_pre:
            floor = max(floor, float(above[nms_pre]))
    return floor


def zero_size(boxes: np.ndarray) -> np.ndarray:
    """mmdet 3.x's `min_bbox_size=0` filter: boxes clipped to the image with no width or height are dropped."""
    return (boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1])


def judge(mmdet_rows: np.ndarray, blobs: dict, cfg, test_cfg: dict):
    """mmdetection's detections (pixels at 320, mmdet labels) against ncnn's blobs, with exactly the
    documented differences excused (docs/mmdet.md):
    - nms_pre: only rows scoring above the best candidate mmdet's per-level cut dropped are compared;
    - min_bbox_size: candidates whose clipped box has no width or height are out of the replay, and such
      ncnn rows out of the comparison (mmdet drops them before NMS; DetectionOutput keeps them);
    - the dw/dh clamp: must not apply (asserted): no prior's raw size regression reaches it.
    What is left is judged as torchvision's detections are (tie-aware replay on ncnn's candidates).
    Returns (DetectionCheck, the nms_pre floor, ncnn rows dropped as zero-size)."""
    from dataclasses import replace

    from torchvision_helpers import tie_aware

    from ssd2ncnn.verify.detections import candidates_from_blobs

    loc = np.asarray(blobs["mbox_loc"], np.float32).reshape(-1, 4)
    assert np.abs(loc[:, 2:]).max() < DWH_CLAMP_RAW, "DeltaXYWHBBoxCoder's size clamp applies: not excused here"
    floor = nms_pre_floor(blobs["mbox_conf_flatten"], cfg.num_classes, test_cfg["score_thr"], test_cfg["nms_pre"])
    cand = candidates_from_blobs(blobs["mbox_loc"], blobs["mbox_conf_flatten"], blobs["mbox_priorbox"], cfg)
    cand.scores[zero_size(cand.boxes), 1:] = 0.0
    got = np.asarray(blobs["detection_out"], np.float64).reshape(-1, 6)
    empty = zero_size(got[:, 2:6])
    ref = mmdet_rows.astype(np.float64).copy()
    ref[:, 0] += 1  # mmdet's labels have no background
    ref[:, 2:] /= 320.0
    cut = replace(cfg, conf_threshold=max(cfg.conf_threshold, floor))
    return tie_aware(ref[ref[:, 1] > floor], got[~empty & (got[:, 1] > floor)], cand, cut), floor, int(empty.sum())
