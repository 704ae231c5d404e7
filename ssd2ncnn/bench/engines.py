"""The things `bench` times. Each engine is built for one (input size, thread count) and exposes
`activate()` (called before each of its timing blocks: sets process-global thread counts) and `run()`
(one inference, end to end, on a fixed prepared input).

- ncnn: input Mat -> `detection_out` (the SSD post-processing runs inside the graph).
- onnxruntime: `model.onnx` (raw head maps) -> the reference flatten + softmax + post-processing
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
    """onnxruntime + the reference flatten/softmax/post-processing (the same functions verify uses)."""

    def __init__(self, onnx_path: Path, cfg: SSDConfig, threads: int):
        from ..ort_session import ort_session

        self.sess = ort_session(onnx_path, threads)
        self.input_name = self.sess.get_inputs()[0].name
        names = [o.name for o in self.sess.get_outputs()]
        self.loc_names = sorted((n for n in names if n.startswith("loc")), key=lambda n: int(n[3:]))
        self.conf_names = sorted((n for n in names if n.startswith("conf")), key=lambda n: int(n[4:]))
        self.cfg = cfg
        self._priors: dict[tuple[int, int], torch.Tensor] = {}

    def raw(self, x: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Flattened (P, 4) regressions and (P, C) logits, flattened exactly as the ncnn patch does."""
        import torch

        from ..model.ssdlite import flatten_heads

        outs = self.sess.run(self.loc_names + self.conf_names, {self.input_name: x[None]})
        k = len(self.loc_names)
        maps = [torch.from_numpy(o) for o in outs]
        loc, conf = flatten_heads(maps[:k], maps[k:], self.cfg.num_classes)
        if (x.shape[1], x.shape[2]) not in self._priors:
            from ..model.priors import generate_priors

            sizes = [(int(m.shape[2]), int(m.shape[3])) for m in outs[:k]]
            self._priors[(x.shape[1], x.shape[2])] = generate_priors(self.cfg, sizes, (x.shape[1], x.shape[2]))
        return loc[0], conf[0]

    def detect(self, x: np.ndarray) -> np.ndarray:
        from ..model.postprocess import class_scores, detect

        loc, conf = self.raw(x)
        return detect(loc, class_scores(conf, self.cfg), self._priors[(x.shape[1], x.shape[2])], self.cfg)


def ort_engine(name: str, onnx_path: Path, cfg: SSDConfig, x: np.ndarray, threads: int, net_only: bool = False) -> Engine:
    det = OrtDetector(onnx_path, cfg, threads)
    run = (lambda: det.sess.run(None, {det.input_name: x[None]})) if net_only else (lambda: det.detect(x))
    return Engine(name, run, info={"onnx": str(onnx_path), "intra_op_num_threads": threads,
                                   "postprocess": "none" if net_only else "reference flatten/softmax + detect"})


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

        raise InputError(f"--checkpoint {checkpoint} has {cfg.num_classes - 1} classes + background, the converted model "
                         f"{cfg_check.num_classes - 1} + background")
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
