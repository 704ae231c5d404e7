"""The parity engine behind `ssd2ncnn verify`: PyTorch, the ONNX graph in onnxruntime and the ncnn model
run on the same inputs at each input size, and every tensor is compared at the stage that made it:

    export  onnxruntime raw head maps        vs PyTorch raw head maps
    pnnx    ncnn raw head maps (loc_k/conf_k) vs onnxruntime (PyTorch with --no-onnx)
    patch   mbox_loc, mbox_conf_flatten vs the PyTorch tail fed with ncnn's own head maps (the patch in
            isolation); mbox_priorbox vs the PyTorch prior generator
    end-to-end  mbox_loc, mbox_conf_flatten, detection_out vs PyTorch + the reference post-processing

so a failure names the stage that diverged."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..checkpoint import load_model
from ..config import SSDConfig
from ..errors import InputError
from ..model.postprocess import class_scores, detect
from ..model.priors import generate_priors, priorbox_blob
from ..model.ssdlite import SSDDetector, flatten_heads
from ..modelfolder import (
    BIN,
    CONF_BLOB,
    CONTRACT_BLOBS,
    DETECTION_BLOB,
    LOC_BLOB,
    ONNX,
    PARAM,
    PRIOR_BLOB,
    ModelInfo,
    head_names,
    read_info,
)
from ..ncnn_format import parse_param, write_param
from ..ncnn_format.ids import DETOUT_CONF_THRESHOLD
from ..runtime.net import load_net, run_net
from .compare import TensorCheck, compare_tensor
from .detections import (
    Candidates,
    DetectionCheck,
    candidates_from_blobs,
    compare_detections,
    lowered,
    reference_rows,
)
from .pipeline import PipelineDiff, pipeline_difference
from .tolerances import Tolerances
from .verify_images import VerifyImage, training_input


def preprocess(image, size: int, info: ModelInfo) -> np.ndarray:
    from ..runtime.preprocess import preprocess_image

    return preprocess_image(image, size, info)


@dataclass
class References:
    heads: dict[str, np.ndarray]
    blobs: dict[str, np.ndarray]
    candidates: Candidates


def torch_references(model: SSDDetector, chw: np.ndarray) -> References:
    cfg = model.cfg
    x = torch.from_numpy(chw)[None]
    with torch.no_grad():
        locs, confs = model(x)
    heads = {n: t[0].numpy() for n, t in zip(head_names(cfg.num_levels), locs + confs)}
    blobs = torch_blobs(model, locs, confs, chw.shape[1:])
    return References(heads, blobs, candidates_from_blobs(blobs[LOC_BLOB], blobs[CONF_BLOB], blobs[PRIOR_BLOB], cfg))


def torch_blobs(model: SSDDetector, locs, confs, hw) -> dict[str, np.ndarray]:
    """The contract blobs computed in PyTorch from head maps (PyTorch's own, or onnxruntime's)."""
    cfg = model.cfg
    loc, conf = flatten_heads(locs, confs, cfg.num_classes)
    scores = class_scores(conf, cfg)[0]
    sizes = [(int(t.shape[2]), int(t.shape[3])) for t in locs]
    priors = generate_priors(cfg, sizes, (int(hw[0]), int(hw[1])))
    return {
        LOC_BLOB: loc[0].reshape(-1).numpy(),
        CONF_BLOB: scores.reshape(-1).numpy(),
        PRIOR_BLOB: priorbox_blob(cfg, priors),
        DETECTION_BLOB: detect(loc[0], scores, priors, cfg),
    }


class OnnxRunner:
    def __init__(self, path: Path, num_threads: int = 2):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = num_threads
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.names = [o.name for o in self.session.get_outputs()]

    def heads(self, chw: np.ndarray) -> dict[str, np.ndarray]:
        outs = self.session.run(self.names, {"input": chw[None].astype(np.float32)})
        return {n: o[0] for n, o in zip(self.names, outs)}


@dataclass
class CaseResult:
    image: str
    size: int
    tensors: list[TensorCheck]
    detections: DetectionCheck
    ncnn_dets: np.ndarray = field(repr=False)
    torch_dets: np.ndarray = field(repr=False)

    @property
    def passed(self) -> bool:
        return self.detections.passed and all(t.passed for t in self.tensors)

    def failures(self) -> list[str]:
        out = [
            f"{self.image}@{self.size}: {t.name} ({t.stage} stage) max abs error {t.max_abs:.3g} > {t.limit:.3g}"
            + ("" if t.shape_ok else " (size mismatch)")
            for t in self.tensors
            if not t.passed
        ]
        d = self.detections
        if not d.passed:
            why = "; ".join(d.unexplained[:3]) + (f"; and {len(d.unexplained) - 3} more" if len(d.unexplained) > 3 else "")
            out.append(
                f"{self.image}@{self.size}: detection_out (end-to-end) {d.matched} matched, "
                f"{d.unmatched_ncnn} only in ncnn, {d.unmatched_ref} only in PyTorch, "
                f"score error {d.max_score_err:.3g}, box error {d.max_box_err:.3g}"
                + (f": {why}" if why else "")
            )
        return out


class LoweredThreshold:
    """The folder's model with DetectionOutput's confidence threshold lowered, for a case where nothing
    scores above the real one on either side: ncnn's own DetectionOutput still makes the rows compared."""

    def __init__(self, out_dir: Path, info: ModelInfo):
        self.text = (out_dir / PARAM).read_text()
        self.weights = out_dir / BIN
        self.options = info.ncnn_options

    def run(self, chw: np.ndarray, threshold: float) -> np.ndarray:
        graph = parse_param(self.text)
        for layer in graph.layers:
            if layer.type == "DetectionOutput":
                layer.params[DETOUT_CONF_THRESHOLD] = float(threshold)
        with tempfile.TemporaryDirectory(prefix="ssd2ncnn-verify-") as tmp:
            param = Path(tmp) / PARAM
            write_param(graph, param)
            net = load_net(param, self.weights, self.options, num_threads=2)
            return run_net(net, chw, [DETECTION_BLOB])[DETECTION_BLOB]


def _detection_check(cfg: SSDConfig, got: dict, ref: References, tol: Tolerances, chw: np.ndarray,
                     conf_err: float, low: LoweredThreshold | None) -> tuple[DetectionCheck, np.ndarray, np.ndarray]:
    """The detection check, and the rows it compared. When neither side has a detection above the
    compared threshold, the case is compared again at a lowered one, so it tests something."""
    ncnn_rows, torch_rows = got[DETECTION_BLOB], ref.blobs[DETECTION_BLOB]
    det = compare_detections(ncnn_rows, torch_rows, cfg, tol, ref.candidates, conf_err)
    if det.compared or low is None:
        return det, ncnn_rows, torch_rows
    plan = lowered(cfg, tol, ref.candidates)
    if plan is None:
        det.note = "nothing to compare: PyTorch scores no foreground class above 0"
        return det, ncnn_rows, torch_rows
    cfg_low, tol_low = plan
    low_ncnn, low_torch = low.run(chw, cfg_low.conf_threshold), reference_rows(ref.candidates, cfg_low)
    det_low = compare_detections(low_ncnn, low_torch, cfg_low, tol_low, ref.candidates, conf_err)
    det_low.note = (f"no detection above {det.threshold:g} on either side; compared at a lowered threshold "
                    f"{cfg_low.conf_threshold:.3g} (half PyTorch's best class score)")
    return det_low, ncnn_rows, torch_rows


def check_case(model: SSDDetector, net, onnx: OnnxRunner | None, chw: np.ndarray, tol: Tolerances, name: str,
               size: int, low: LoweredThreshold | None = None) -> CaseResult:
    cfg = model.cfg
    heads = head_names(cfg.num_levels)
    ref = torch_references(model, chw)
    got = run_net(net, chw, heads + list(CONTRACT_BLOBS))
    checks: list[TensorCheck] = []
    backend_ref = ref.heads
    if onnx is not None:
        onnx_heads = onnx.heads(chw)
        for n in heads:
            checks.append(compare_tensor(n, "export", onnx_heads[n], ref.heads[n], tol.head_atol, tol.head_rtol))
        backend_ref = onnx_heads
    for n in heads:
        checks.append(compare_tensor(n, "pnnx", got[n], backend_ref[n], tol.head_atol, tol.head_rtol))
    # The patch in isolation: ncnn's tail against the PyTorch tail fed with ncnn's own head maps, so an
    # upstream error that the softmax amplifies is not blamed on the patch.
    k = cfg.num_levels
    ncnn_maps = [torch.from_numpy(got[n])[None] for n in heads]
    iso = torch_blobs(model, ncnn_maps[:k], ncnn_maps[k:], chw.shape[1:])
    checks.append(compare_tensor(LOC_BLOB, "patch", got[LOC_BLOB], iso[LOC_BLOB], tol.copy_atol))
    checks.append(compare_tensor(CONF_BLOB, "patch", got[CONF_BLOB], iso[CONF_BLOB], tol.conf_atol))
    checks.append(compare_tensor(PRIOR_BLOB, "patch", got[PRIOR_BLOB], ref.blobs[PRIOR_BLOB], tol.prior_atol))
    # End to end: what the user gets, against PyTorch + the reference post-processing.
    checks.append(compare_tensor(LOC_BLOB, "end-to-end", got[LOC_BLOB], ref.blobs[LOC_BLOB], tol.head_atol, tol.head_rtol))
    checks.append(compare_tensor(CONF_BLOB, "end-to-end", got[CONF_BLOB], ref.blobs[CONF_BLOB], tol.conf_atol))
    det, ncnn_rows, torch_rows = _detection_check(cfg, got, ref, tol, chw, checks[-1].max_abs, low)
    return CaseResult(name, size, checks, det, ncnn_rows, torch_rows)


def check_same_model(model: SSDDetector, info: ModelInfo, out_dir: Path) -> None:
    """The checkpoint must be the one OUT was converted from (same SSDConfig), or nothing compares."""
    # a folder written before a config field existed read that field's default (SSDConfig.from_dict)
    ours, theirs = model.cfg.to_dict(), info.config.to_dict()
    differ = sorted(k for k in ours if ours[k] != theirs[k])
    if differ:
        shown = ", ".join(f"{k}: {ours[k]!r} vs {theirs[k]!r}" for k in differ[:3])
        raise InputError(
            f"the checkpoint's config differs from {out_dir}/model.json ({shown}{', ...' if len(differ) > 3 else ''}); "
            f"verify the checkpoint that folder was converted from, or re-run `ssd2ncnn convert`"
        )


@dataclass
class VerifyReport:
    cases: list[CaseResult]
    tolerances: Tolerances
    sizes: list[int]
    pipelines: dict[int, PipelineDiff] = field(default_factory=dict)  # per size, with --images

    @property
    def map_failures(self) -> list[str]:
        return [
            f"mAP@{s}: ncnn's pipeline {100 * p.map_ncnn:.2f} is {100 * (p.map_torch - p.map_ncnn):.2f} points below "
            f"PyTorch's {100 * p.map_torch:.2f}, more than the margin {p.map_margin:.2f} for {p.images} images"
            for s, p in self.pipelines.items()
            if p.map_failed and p.map_ncnn is not None and p.map_torch is not None
        ]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.cases) and not self.map_failures

    def failures(self) -> list[str]:
        return [f for c in self.cases for f in c.failures()] + self.map_failures

    def as_dict(self) -> dict:
        return {
            "passed": self.passed,
            "sizes": self.sizes,
            "tolerances": self.tolerances.__dict__,
            "failures": self.failures(),
            "pipeline": {str(s): p.as_dict() for s, p in self.pipelines.items()},
            "cases": [
                {
                    "image": c.image,
                    "size": c.size,
                    "passed": c.passed,
                    "tensors": [t.as_dict() for t in c.tensors],
                    "detections": c.detections.as_dict(),
                }
                for c in self.cases
            ],
        }


def verify(
    model: SSDDetector,
    out_dir: Path,
    images: list[VerifyImage],
    sizes: list[int],
    tol: Tolerances,
    use_onnx: bool = True,
    progress: Callable[[int, int], None] | None = None,
    pipeline: bool = False,
    info: ModelInfo | None = None,
) -> VerifyReport:
    """Parity on identical tensors (ncnn's own pre-processing of each image, fed to both); with `pipeline`,
    also each runtime's own pipeline on the same images (`verify.pipeline`). `info`: the folder's model.json
    when the caller has read it already (it is read once per command)."""
    info = info or read_info(out_dir)
    check_same_model(model, info, out_dir)
    net = load_net(out_dir / PARAM, out_dir / BIN, info.ncnn_options, num_threads=2)
    onnx = OnnxRunner(out_dir / ONNX) if use_onnx and (out_dir / ONNX).exists() else None
    low = LoweredThreshold(out_dir, info)
    report = VerifyReport([], tol, sizes)
    total, done = len(images) * len(sizes), 0
    for size in sizes:
        trained: list[np.ndarray] = []
        for im in images:
            chw = preprocess(im.image, size, info)
            report.cases.append(check_case(model, net, onnx, chw, tol, im.name, size, low))
            if pipeline:  # PyTorch as trained: its own resize of the same image
                trained.append(torch_references(model, training_input(im.image, size, model.cfg)).blobs[DETECTION_BLOB])
            done += 1
            if progress:
                progress(done, total)
        if pipeline and images:
            deployed = [c.ncnn_dets for c in report.cases[-len(images):]]
            report.pipelines[size] = pipeline_difference(size, images, deployed, trained, model.cfg.num_classes, tol)
    return report


def verify_checkpoint(checkpoint: Path, out_dir: Path, images, sizes, tol, use_onnx=True, progress=None,
                      pipeline: bool = False, info: ModelInfo | None = None, **load_kw) -> VerifyReport:
    return verify(load_model(checkpoint, **load_kw), Path(out_dir), images, sizes, tol, use_onnx, progress, pipeline, info)
