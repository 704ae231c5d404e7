"""The parity engine behind `ssd2ncnn verify`: PyTorch, the ONNX graph in onnxruntime and the ncnn model
run on the same inputs at each input size, and every tensor is compared at the stage that made it:

    export  onnxruntime raw head maps        vs PyTorch raw head maps
    pnnx    ncnn raw head maps (loc_k/conf_k) vs onnxruntime (PyTorch with --no-onnx)
    patch   mbox_loc, mbox_conf_flatten vs the PyTorch tail fed with ncnn's own head maps (the patch in
            isolation); mbox_priorbox vs the PyTorch prior generator
    end-to-end  mbox_loc, mbox_conf_flatten, detection_out vs PyTorch + the reference post-processing

so a failure names the stage that diverged."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..checkpoint import load_model
from ..config import SSDConfig
from ..converter.convert import read_model_json
from ..errors import InputError
from ..model.postprocess import class_scores, detect
from ..model.priors import generate_priors, priorbox_blob
from ..model.ssdlite import SSDDetector, flatten_heads
from ..runtime.net import load_net, run_net
from .compare import DetectionCheck, TensorCheck, compare_detections, compare_tensor
from .inputs import VerifyImage
from .tolerances import Tolerances

CONTRACT_BLOBS = ("mbox_loc", "mbox_conf_flatten", "mbox_priorbox", "detection_out")


def head_names(num_levels: int) -> list[str]:
    return [f"loc{k}" for k in range(num_levels)] + [f"conf{k}" for k in range(num_levels)]


def preprocess(image, size: int, meta: dict) -> np.ndarray:
    from ..runtime.preprocess import preprocess_image

    return preprocess_image(image, size, meta)


@dataclass
class References:
    heads: dict[str, np.ndarray]
    blobs: dict[str, np.ndarray]


def torch_references(model: SSDDetector, chw: np.ndarray) -> References:
    cfg = model.cfg
    x = torch.from_numpy(chw)[None]
    with torch.no_grad():
        locs, confs = model(x)
    heads = {n: t[0].numpy() for n, t in zip(head_names(cfg.num_levels), locs + confs)}
    return References(heads, torch_blobs(model, locs, confs, chw.shape[1:]))


def torch_blobs(model: SSDDetector, locs, confs, hw) -> dict[str, np.ndarray]:
    """The contract blobs computed in PyTorch from head maps (PyTorch's own, or onnxruntime's)."""
    cfg = model.cfg
    loc, conf = flatten_heads(locs, confs, cfg.num_classes)
    scores = class_scores(conf, cfg)[0]
    sizes = [(int(t.shape[2]), int(t.shape[3])) for t in locs]
    priors = generate_priors(cfg, sizes, (int(hw[0]), int(hw[1])))
    return {
        "mbox_loc": loc[0].reshape(-1).numpy(),
        "mbox_conf_flatten": scores.reshape(-1).numpy(),
        "mbox_priorbox": priorbox_blob(cfg, priors),
        "detection_out": detect(loc[0], scores, priors, cfg),
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
            out.append(
                f"{self.image}@{self.size}: detection_out (end-to-end) {d.matched} matched, "
                f"{d.unmatched_ncnn} only in ncnn, {d.unmatched_ref} only in PyTorch ({d.excused} at a cut-off), "
                f"{d.ties} score ties, "
                f"score error {d.max_score_err:.3g}, box error {d.max_box_err:.3g}"
            )
        return out


def _detection_check(cfg, got: np.ndarray, ref: np.ndarray, tol: Tolerances) -> DetectionCheck:
    return compare_detections(got, ref, cfg.conf_threshold, cfg.keep_top_k, tol.score_atol, tol.box_atol, tol.match_iou, tol.min_score)


def check_case(model: SSDDetector, net, onnx: OnnxRunner | None, chw: np.ndarray, tol: Tolerances, name: str, size: int) -> CaseResult:
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
    checks.append(compare_tensor("mbox_loc", "patch", got["mbox_loc"], iso["mbox_loc"], tol.prior_atol))
    checks.append(compare_tensor("mbox_conf_flatten", "patch", got["mbox_conf_flatten"], iso["mbox_conf_flatten"], tol.conf_atol))
    checks.append(compare_tensor("mbox_priorbox", "patch", got["mbox_priorbox"], ref.blobs["mbox_priorbox"], tol.prior_atol))
    # End to end: what the user gets, against PyTorch + the reference post-processing.
    checks.append(compare_tensor("mbox_loc", "end-to-end", got["mbox_loc"], ref.blobs["mbox_loc"], tol.head_atol, tol.head_rtol))
    checks.append(compare_tensor("mbox_conf_flatten", "end-to-end", got["mbox_conf_flatten"], ref.blobs["mbox_conf_flatten"], tol.conf_atol))
    det = _detection_check(cfg, got["detection_out"], ref.blobs["detection_out"], tol)
    return CaseResult(name, size, checks, det, got["detection_out"], ref.blobs["detection_out"])


def check_same_model(model: SSDDetector, meta: dict, out_dir: Path) -> None:
    """The checkpoint must be the one OUT was converted from (same SSDConfig), or nothing compares."""
    ours, theirs = model.cfg.to_dict(), meta.get("config", {})
    try:  # a folder written before a config field existed holds that field's default
        theirs = SSDConfig.from_dict(theirs).to_dict()
    except InputError:
        pass  # unreadable or newer: compared as written, so the difference is named below
    differ = sorted(k for k in ours if ours[k] != theirs.get(k))
    if differ:
        shown = ", ".join(f"{k}: {ours[k]!r} vs {theirs.get(k)!r}" for k in differ[:3])
        raise InputError(
            f"the checkpoint's config differs from {out_dir}/model.json ({shown}{', ...' if len(differ) > 3 else ''}); "
            f"verify the checkpoint that folder was converted from, or re-run `ssd2ncnn convert`"
        )


@dataclass
class VerifyReport:
    cases: list[CaseResult]
    tolerances: Tolerances
    sizes: list[int]
    map_ncnn: dict[int, float] = field(default_factory=dict)
    map_torch: dict[int, float] = field(default_factory=dict)

    @property
    def map_failures(self) -> list[str]:
        return [
            f"mAP@{s}: ncnn {100 * self.map_ncnn[s]:.2f} vs PyTorch {100 * self.map_torch[s]:.2f} differs by "
            f"{100 * abs(self.map_ncnn[s] - self.map_torch[s]):.2f} points > {self.tolerances.map_atol}"
            for s in self.map_ncnn
            if 100 * abs(self.map_ncnn[s] - self.map_torch[s]) > self.tolerances.map_atol
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
            "map": {str(s): {"ncnn": self.map_ncnn[s], "pytorch": self.map_torch[s]} for s in self.map_ncnn},
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
) -> VerifyReport:
    meta = read_model_json(out_dir)
    check_same_model(model, meta, out_dir)
    net = load_net(out_dir / "model.param", out_dir / "model.bin", meta.get("ncnn_options"), num_threads=2)
    onnx = OnnxRunner(out_dir / "model.onnx") if use_onnx and (out_dir / "model.onnx").exists() else None
    report = VerifyReport([], tol, sizes)
    total, done = len(images) * len(sizes), 0
    annotated = bool(images) and all(im.gt is not None for im in images)
    for size in sizes:
        for im in images:
            chw = preprocess(im.image, size, meta)
            report.cases.append(check_case(model, net, onnx, chw, tol, im.name, size))
            done += 1
            if progress:
                progress(done, total)
        if annotated:
            from ..data.metrics import evaluate_detections

            gts = [im.gt for im in images]
            cases = report.cases[-len(images):]
            n = model.cfg.num_classes
            report.map_ncnn[size] = evaluate_detections([c.ncnn_dets for c in cases], gts, n).map
            report.map_torch[size] = evaluate_detections([c.torch_dets for c in cases], gts, n).map
    return report


def verify_checkpoint(checkpoint: Path, out_dir: Path, images, sizes, tol, use_onnx=True, progress=None, **load_kw) -> VerifyReport:
    return verify(load_model(checkpoint, **load_kw), Path(out_dir), images, sizes, tol, use_onnx, progress)
