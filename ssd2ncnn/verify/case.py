"""One verify case, an input at one size: every tensor compared at the stage that made it, then the
detections (see `verify.parity` for the stages)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..config import SSDConfig
from ..model.reference import contract_blobs, run_reference
from ..model.ssdlite import SSDDetector
from ..modelfolder import CONF_BLOB, CONTRACT_BLOBS, DETECTION_BLOB, LOC_BLOB, PRIOR_BLOB, head_names
from ..runtime.net import run_net
from .compare import TensorCheck, compare_tensor
from .detections import Candidates, DetectionCheck, candidates_from_blobs, compare_detections, reference_rows
from .lowered import LoweredNet, lowered
from .onnx_heads import OnnxHeads
from .tolerances import Tolerances, logit_scale


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
                f"score error {d.max_score_err:.3g} (limit {d.score_limit:.3g}), box error {d.max_box_err:.3g}"
                + (f": {why}" if why else "")
            )
        return out

    def to_dict(self) -> dict:
        return {"image": self.image, "size": self.size, "passed": self.passed,
                "tensors": [t.as_dict() for t in self.tensors], "detections": self.detections.as_dict()}


def _detection_check(cfg: SSDConfig, ncnn_rows: np.ndarray, torch_rows: np.ndarray, cand: Candidates, tol: Tolerances,
                     chw: np.ndarray, conf_err: float, low: LoweredNet | None) -> DetectionCheck:
    """The detection check. When neither side has a detection above the compared threshold, the case is
    compared again at a lowered one (`verify.lowered`), so it tests something."""
    det = compare_detections(ncnn_rows, torch_rows, cfg, tol, cand, conf_err)
    if det.compared or low is None:
        return det
    plan = lowered(cfg, tol, cand)
    if plan is None:
        det.note = det.inconclusive = "nothing to compare: PyTorch scores no foreground class above 0"
        return det
    cfg_low, tol_low = plan
    det_low = compare_detections(low.run(chw, cfg_low.conf_threshold), reference_rows(cand, cfg_low), cfg_low,
                                 tol_low, cand, conf_err)
    det_low.note = (f"no detection above {det.threshold:g} on either side; compared at a lowered threshold "
                    f"{cfg_low.conf_threshold:.3g} (half PyTorch's best class score)")
    return det_low


def _head_checks(heads: list[str], got: dict, ref: dict, onnx: OnnxHeads | None, chw: np.ndarray, tol: Tolerances) -> list[TensorCheck]:
    """export: onnxruntime vs PyTorch; pnnx: ncnn vs onnxruntime (vs PyTorch without onnx)."""
    checks: list[TensorCheck] = []
    backend_ref = ref
    if onnx is not None:
        onnx_heads = onnx.heads(chw)
        checks += [compare_tensor(n, "export", onnx_heads[n], ref[n], tol.head_atol, tol.head_rtol) for n in heads]
        backend_ref = onnx_heads
    return checks + [compare_tensor(n, "pnnx", got[n], backend_ref[n], tol.head_atol, tol.head_rtol) for n in heads]


def check_case(model: SSDDetector, net, onnx: OnnxHeads | None, chw: np.ndarray, tol: Tolerances, name: str,
               size: int, low: LoweredNet | None = None) -> CaseResult:
    cfg = model.cfg
    heads = head_names(cfg.num_levels)
    ref = run_reference(model, chw)
    ref_heads = dict(zip(heads, ref.locs + ref.confs))
    tol = tol.for_case(cfg.score_activation, logit_scale(ref.confs))
    got = run_net(net, chw, heads + list(CONTRACT_BLOBS))
    checks = _head_checks(heads, got, ref_heads, onnx, chw, tol)
    # The patch in isolation: ncnn's tail against the PyTorch tail fed with ncnn's own head maps, so an
    # upstream error that the softmax amplifies is not blamed on the patch.
    k = cfg.num_levels
    maps = [torch.from_numpy(got[n])[None] for n in heads]
    iso = contract_blobs(maps[:k], maps[k:], cfg, chw.shape[1:])
    checks.append(compare_tensor(LOC_BLOB, "patch", got[LOC_BLOB], iso[LOC_BLOB], tol.copy_atol))
    checks.append(compare_tensor(CONF_BLOB, "patch", got[CONF_BLOB], iso[CONF_BLOB], tol.softmax_atol))
    checks.append(compare_tensor(PRIOR_BLOB, "patch", got[PRIOR_BLOB], ref.blobs[PRIOR_BLOB], tol.prior_atol))
    # End to end: what the user gets, against PyTorch + the reference post-processing.
    checks.append(compare_tensor(LOC_BLOB, "end-to-end", got[LOC_BLOB], ref.blobs[LOC_BLOB], tol.head_atol, tol.head_rtol))
    checks.append(compare_tensor(CONF_BLOB, "end-to-end", got[CONF_BLOB], ref.blobs[CONF_BLOB], tol.conf_limit()))
    cand = candidates_from_blobs(ref.blobs[LOC_BLOB], ref.blobs[CONF_BLOB], ref.blobs[PRIOR_BLOB], cfg)
    ncnn_rows, torch_rows = got[DETECTION_BLOB], ref.blobs[DETECTION_BLOB]
    det = _detection_check(cfg, ncnn_rows, torch_rows, cand, tol, chw, checks[-1].max_abs, low)
    return CaseResult(name, size, checks, det, ncnn_rows, torch_rows)
