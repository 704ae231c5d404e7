"""The things `bench` times. Each engine is built for one (input size, thread count) and exposes
`activate()` (called before each of its timing blocks: sets process-global thread counts) and `run()`
(one inference, end to end, on a fixed prepared input).

- ncnn: input Mat -> `detection_out` (the SSD post-processing runs inside the graph).
- onnxruntime: `model.onnx` (raw head maps) -> the reference flatten + softmax + post-processing
  (`ssd2ncnn.model.reference.detections`). Priors are computed once per input size and cached, as a
  deployment would.
- torch: the checkpoint's `SSDLite` -> the same reference tail, priors cached.
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
    keep_alive: object = None  # the ncnn.Net behind `run`


def ncnn_engine(name: str, param: Path, weights: Path | None, x: np.ndarray, threads: int,
                options: dict | None = None, outputs: tuple[str, ...] = ("detection_out",)) -> Engine:
    from ..runtime.net import load_net, run_net

    net = load_net(Path(param), None if weights is None else Path(weights), options, threads)

    def run():
        return run_net(net, x, outputs)

    eng = Engine(name, run)
    eng.keep_alive = net
    return eng


class OrtDetector:
    """onnxruntime + the PyTorch reference tail (`model.reference`, the functions verify uses)."""

    def __init__(self, onnx_path: Path, cfg: SSDConfig, threads: int):
        from ..ort_session import ort_session

        self.sess = ort_session(onnx_path, threads)
        self.input_name = self.sess.get_inputs()[0].name
        names = [o.name for o in self.sess.get_outputs()]
        self.loc_names = sorted((n for n in names if n.startswith("loc")), key=lambda n: int(n[3:]))
        self.conf_names = sorted((n for n in names if n.startswith("conf")), key=lambda n: int(n[4:]))
        self.cfg = cfg

    def maps(self, x: np.ndarray) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """The raw head maps (batch 1) of a (3, H, W) input."""
        import torch

        outs = self.sess.run(self.loc_names + self.conf_names, {self.input_name: x[None]})
        maps = [torch.from_numpy(o) for o in outs]
        return maps[: len(self.loc_names)], maps[len(self.loc_names):]

    def detect(self, x: np.ndarray) -> np.ndarray:
        from ..model.reference import detections

        locs, confs = self.maps(x)
        return detections(locs, confs, self.cfg, (x.shape[1], x.shape[2]))


def ort_engine(name: str, onnx_path: Path, cfg: SSDConfig, x: np.ndarray, threads: int, net_only: bool = False) -> Engine:
    det = OrtDetector(onnx_path, cfg, threads)
    run = (lambda: det.sess.run(None, {det.input_name: x[None]})) if net_only else (lambda: det.detect(x))
    return Engine(name, run)


def torch_engine(name: str, checkpoint: Path, cfg_check: SSDConfig | None, x: np.ndarray, threads: int,
                 load: dict | None = None) -> Engine:
    import torch

    from ..checkpoint import load_model
    from ..model.reference import detections

    model = load_model(Path(checkpoint), **(load or {})).eval()
    cfg = model.cfg
    if cfg_check is not None and cfg.num_classes != cfg_check.num_classes:
        from ..errors import InputError

        raise InputError(f"--checkpoint {checkpoint} has {cfg.num_classes - 1} classes + background, the converted model "
                         f"{cfg_check.num_classes - 1} + background")
    h, w = x.shape[1], x.shape[2]
    xt = torch.from_numpy(np.ascontiguousarray(x))[None]

    def activate():
        torch.set_num_threads(int(threads))

    def run():
        with torch.inference_mode():
            locs, confs = model(xt)
            return detections(locs, confs, cfg, (h, w))

    return Engine(name, run, activate)
