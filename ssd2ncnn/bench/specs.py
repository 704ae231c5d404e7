"""Engine specs: JSON-able descriptions of one engine at one (input size, thread count), and
`build_engine`, which turns a spec into an `Engine`. The timing run and the memory probe's subprocess
build their engines from the same specs. A spec carries the model folder's metadata (`info`, model.json's
content), so building an engine never reads model.json again."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.synthetic import gradient_picture
from ..modelfolder import BIN, CONF_BLOB, DETECTION_BLOB, LOC_BLOB, ONNX, PARAM, PRIOR_BLOB, ModelInfo
from ..runtime.preprocess import ncnn_input
from .engines import Engine, ncnn_engine, ort_engine, torch_engine

NET_BLOBS = (LOC_BLOB, CONF_BLOB, PRIOR_BLOB)


def make_input(info: ModelInfo, size: int) -> np.ndarray:
    return ncnn_input(gradient_picture(size), size, info)


def build_engine(spec: dict) -> Engine:
    """kind: ncnn (to detection_out), ncnn-net (to the three SSD blobs), ncnn-empty (a .param with zero
    weights), ncnn-files (a .param/.bin pair), onnxruntime / onnxruntime-net, torch. Every kind but ncnn-empty reads its model folder."""
    kind = spec["kind"]
    name = spec.get("name", kind)
    size, threads = int(spec["size"]), int(spec["threads"])
    out = Path(spec.get("out_dir") or ".")
    info = ModelInfo.from_dict(spec["info"])
    x = make_input(info, size)
    if kind in ("ncnn", "ncnn-net"):
        outputs = (DETECTION_BLOB,) if kind == "ncnn" else NET_BLOBS
        return ncnn_engine(name, out / PARAM, out / BIN, x, threads, spec.get("options"), outputs)
    if kind == "ncnn-empty":
        return ncnn_engine(name, Path(spec["param"]), None, x, threads, spec.get("options"), (DETECTION_BLOB,))
    if kind == "ncnn-files":  # a .param/.bin pair outside a model folder (the weighted seed graph)
        return ncnn_engine(name, Path(spec["param"]), Path(spec["bin"]), x, threads, spec.get("options"), (DETECTION_BLOB,))
    cfg = info.config
    if kind in ("onnxruntime", "onnxruntime-net"):
        return ort_engine(name, out / ONNX, cfg, x, threads, net_only=kind.endswith("-net"))
    if kind == "torch":
        return torch_engine(name, Path(spec["checkpoint"]), cfg, x, threads, spec.get("load") or {})
    raise ValueError(f"unknown engine kind {kind!r}")
