"""The things `bench` times. Each engine is built for one (input size, thread count) and exposes
`activate()` (called before each of its timing blocks: sets process-global thread counts) and `run()`
(one inference, end to end, on a fixed prepared input).

- ncnn: input Mat -> `detection_out` (the SSD post-processing runs inside the graph).
- onnxruntime: `model.onnx` (raw head maps) -> numpy flatten + softmax -> the reference post-processing
  (`ssd2ncnn.model.postprocess.detect`). Priors are computed once per input size and cached, as a
  deployment would.
- torch: the checkpoint's `SSDLite` -> `flatten_heads` -> `class_scores` -> `detect`, priors cached.
- ncnn-empty: a `.param` loaded with zero weights (DataReaderFromEmpty): structure-only timing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

from ..config import SSDConfig


@dataclass
class Engine:
    name: str
    run: Callable[[], object]
    activate: Callable[[], None] = field(default=lambda: None)
    info: dict = field(default_factory=dict)
    keep_alive: object = None  # the ncnn.Net behind `run`


def flatten_head_maps(locs: list[np.ndarray], confs: list[np.ndarray], num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """numpy twin of `flatten_heads` for one image: per-level (1, A*K, H, W) maps -> (P, 4), (P, C),
    NCHW -> NHWC -> rows, levels concatenated (ncnn's Permute(3) + Flatten + Concat order)."""
    loc = np.concatenate([m[0].transpose(1, 2, 0).reshape(-1, 4) for m in locs], axis=0)
    conf = np.concatenate([m[0].transpose(1, 2, 0).reshape(-1, num_classes) for m in confs], axis=0)
    return loc, conf


def scores_np(conf: np.ndarray, cfg: SSDConfig) -> np.ndarray:
    """Class scores from logits (P, C) in numpy: softmax over classes (or sigmoid, per the config)."""
    if cfg.score_activation == "sigmoid":
        return 1.0 / (1.0 + np.exp(-conf))
    e = np.exp(conf - conf.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def ncnn_engine(name: str, param: Path, weights: Path | None, x: np.ndarray, threads: int,
                options: dict | None = None, outputs: tuple[str, ...] = ("detection_out",)) -> Engine:
    from ..runtime.net import load_net, run_net

    net = load_net(Path(param), None if weights is None else Path(weights), options, threads)

    def run():
        return run_net(net, x, outputs)

    eng = Engine(name, run, info={"param": str(param), "weights": str(weights) if weights else "empty",
                                   "options": dict(options or {}), "outputs": list(outputs)})
    eng.keep_alive = net
    return eng


class OrtDetector:
    """onnxruntime + numpy post-processing, reusable outside the benchmark (quantize checks use it)."""

    def __init__(self, onnx_path: Path, cfg: SSDConfig, threads: int):
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = int(threads)
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.sess = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
        self.input_name = self.sess.get_inputs()[0].name
        names = [o.name for o in self.sess.get_outputs()]
        self.loc_names = sorted((n for n in names if n.startswith("loc")), key=lambda n: int(n[3:]))
        self.conf_names = sorted((n for n in names if n.startswith("conf")), key=lambda n: int(n[4:]))
        self.cfg = cfg
        self._priors: dict[tuple[int, int], torch.Tensor] = {}

    def raw(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        outs = self.sess.run(self.loc_names + self.conf_names, {self.input_name: x[None]})
        k = len(self.loc_names)
        loc, conf = flatten_head_maps(outs[:k], outs[k:], self.cfg.num_classes)
        if (x.shape[1], x.shape[2]) not in self._priors:
            from ..model.priors import generate_priors

            sizes = [(int(m.shape[2]), int(m.shape[3])) for m in outs[:k]]
            self._priors[(x.shape[1], x.shape[2])] = generate_priors(self.cfg, sizes, (x.shape[1], x.shape[2]))
        return loc, conf

    def detect(self, x: np.ndarray) -> np.ndarray:
        import torch

        from ..model.postprocess import detect

        loc, conf = self.raw(x)
        scores = scores_np(conf, self.cfg)
        return detect(torch.from_numpy(loc), torch.from_numpy(scores), self._priors[(x.shape[1], x.shape[2])], self.cfg)


def ort_engine(name: str, onnx_path: Path, cfg: SSDConfig, x: np.ndarray, threads: int, net_only: bool = False) -> Engine:
    det = OrtDetector(onnx_path, cfg, threads)
    run = (lambda: det.sess.run(None, {det.input_name: x[None]})) if net_only else (lambda: det.detect(x))
    return Engine(name, run, info={"onnx": str(onnx_path), "intra_op_num_threads": threads,
                                   "postprocess": "none" if net_only else "numpy flatten/softmax + reference detect"})


def torch_engine(name: str, checkpoint: Path, cfg_check: SSDConfig | None, x: np.ndarray, threads: int) -> Engine:
    import torch

    from ..checkpoint import load_model
    from ..model.postprocess import class_scores, detect
    from ..model.priors import generate_priors
    from ..model.ssdlite import flatten_heads

    model = load_model(Path(checkpoint)).eval()
    cfg = model.cfg
    if cfg_check is not None and cfg.num_classes != cfg_check.num_classes:
        from ..errors import InputError

        raise InputError(f"--checkpoint {checkpoint} has {cfg.num_classes} classes, the converted model {cfg_check.num_classes}")
    h, w = x.shape[1], x.shape[2]
    priors = generate_priors(cfg, model.feature_sizes(h, w), (h, w))
    xt = torch.from_numpy(np.ascontiguousarray(x))[None]

    def activate():
        torch.set_num_threads(int(threads))

    def run():
        with torch.inference_mode():
            locs, confs = model(xt)
            loc, conf = flatten_heads(locs, confs, cfg.num_classes)
            scores = class_scores(conf, cfg)
            return detect(loc[0], scores[0], priors, cfg)

    return Engine(name, run, activate, info={"checkpoint": str(checkpoint), "torch_threads": threads})
