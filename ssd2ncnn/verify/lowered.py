"""Comparing detections of a case where neither side detects anything above the config's threshold (an
untrained or int8 model, a high threshold): both sides run again at a lowered threshold, half PyTorch's
best foreground score, so the comparison has rows to judge.

ncnn's side is its own DetectionOutput, from a copy of the folder's `.param` whose threshold is 0, loaded
once per verify run; its rows are then cut at the case's threshold. That equals DetectionOutput run at the
case's threshold (ncnn `src/layer/detectionoutput.cpp`: per class, candidates above the threshold sorted
by score and cut to nms_top_k, greedy NMS in score order, then all classes sorted and cut to keep_top_k;
rows below a cut can neither suppress nor displace a higher-scoring row), up to the order of exactly equal
scores in ncnn's unstable sort, which the tie-aware comparison excuses anyway."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..config import SSDConfig
from ..modelfolder import BIN, DETECTION_BLOB, PARAM, ModelInfo
from ..ncnn_format import parse_param, write_param
from ..ncnn_format.ids import DETOUT_CONF_THRESHOLD
from ..runtime.net import load_net, run_net
from .detections import Candidates
from .tolerances import Tolerances


def lowered(cfg: SSDConfig, tol: Tolerances, candidates: Candidates) -> tuple[SSDConfig, Tolerances] | None:
    """A config and tolerances whose threshold is half PyTorch's best foreground score; None when PyTorch
    scores no foreground class above 0."""
    best = float(candidates.scores[:, 1:].max()) if candidates.scores.shape[1] > 1 else 0.0
    if best <= 0:
        return None
    return replace(cfg, conf_threshold=best / 2), replace(tol, min_score=0.0)


class LoweredNet:
    """The folder's model with DetectionOutput's threshold at 0, loaded on first use and then reused."""

    def __init__(self, out_dir: Path, info: ModelInfo, num_threads: int = 2):
        self.out_dir, self.options, self.num_threads = Path(out_dir), info.ncnn_options, num_threads
        self.net = None

    def _load(self):
        graph = parse_param((self.out_dir / PARAM).read_text())
        for layer in graph.layers:
            if layer.type == "DetectionOutput":
                layer.params[DETOUT_CONF_THRESHOLD] = 0.0
        with tempfile.TemporaryDirectory(prefix="ssd2ncnn-verify-") as tmp:
            param = Path(tmp) / PARAM
            write_param(graph, param)
            return load_net(param, self.out_dir / BIN, self.options, num_threads=self.num_threads)

    def run(self, chw: np.ndarray, threshold: float) -> np.ndarray:
        """ncnn's detection rows for `chw` at `threshold` (scores strictly above it, as DetectionOutput)."""
        if self.net is None:
            self.net = self._load()
        rows = np.asarray(run_net(self.net, chw, [DETECTION_BLOB])[DETECTION_BLOB]).reshape(-1, 6)
        return rows[rows[:, 1] > threshold]
