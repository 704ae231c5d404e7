"""The parity engine behind `ssd2ncnn verify`: PyTorch, the ONNX graph in onnxruntime and the ncnn model
run on the same inputs at each input size, and every tensor is compared at the stage that made it:

    export  onnxruntime raw head maps        vs PyTorch raw head maps
    pnnx    ncnn raw head maps (loc_k/conf_k) vs onnxruntime (PyTorch with --no-onnx)
    patch   mbox_loc, mbox_conf_flatten vs the PyTorch tail fed with ncnn's own head maps (the patch in
            isolation); mbox_priorbox vs the PyTorch prior generator
    end-to-end  mbox_loc, mbox_conf_flatten, detection_out vs PyTorch + the reference post-processing

so a failure names the stage that diverged. The PyTorch side is `model.reference`; one case is
`verify.case`; the result is `verify.verdict.VerifyReport`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from ..checkpoint import load_model
from ..errors import InputError
from ..model.reference import run_reference
from ..model.ssdlite import SSDDetector
from ..modelfolder import BIN, DETECTION_BLOB, ONNX, PARAM, ModelInfo, read_info
from ..runtime.net import load_net
from ..runtime.preprocess import ncnn_input
from .case import check_case
from .lowered import LoweredNet
from .onnx_heads import OnnxHeads
from .pipeline import pipeline_difference
from .tolerances import Tolerances
from .verdict import VerifyReport
from .verify_images import VerifyImage, training_input


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


class _Runtimes:
    """What every case runs on, loaded once per verify run: the ncnn net (any input size: PriorBox reads
    it from the input blob), onnxruntime, and the lowered-threshold net (loaded on first use)."""

    def __init__(self, out_dir: Path, info: ModelInfo, use_onnx: bool):
        self.net = load_net(out_dir / PARAM, out_dir / BIN, info.ncnn_options, num_threads=2)
        self.onnx = OnnxHeads(out_dir / ONNX) if use_onnx and (out_dir / ONNX).exists() else None
        self.low = LoweredNet(out_dir, info)


def verify(
    model: SSDDetector,
    out_dir: Path,
    images: Iterable[VerifyImage],
    sizes: list[int],
    tol: Tolerances,
    use_onnx: bool = True,
    progress: Callable[[int, int], None] | None = None,
    pipeline: bool = False,
    info: ModelInfo | None = None,
) -> VerifyReport:
    """Parity on identical tensors (ncnn's own pre-processing of each image, fed to both); with `pipeline`,
    also each runtime's own pipeline on the same images (`verify.pipeline`). Images are decoded one at a
    time (all sizes, then the next); one that cannot be decoded is recorded in `bad_files` and skipped.
    `info`: the folder's model.json when the caller has read it already (it is read once per command)."""
    out_dir = Path(out_dir)
    info = info or read_info(out_dir)
    check_same_model(model, info, out_dir)
    runtimes = _Runtimes(out_dir, info, use_onnx)
    images = list(images)
    report = VerifyReport([], tol, sizes)
    used: list[VerifyImage] = []
    deployed: dict[int, list[np.ndarray]] = {s: [] for s in sizes}
    trained: dict[int, list[np.ndarray]] = {s: [] for s in sizes}
    for n, im in enumerate(images):
        try:
            pixels = im.load()
        except InputError as exc:
            report.bad_files.append((im.name, str(exc)))
            continue
        used.append(im)
        for k, size in enumerate(sizes):
            chw = ncnn_input(pixels, size, info)
            case = check_case(model, runtimes.net, runtimes.onnx, chw, tol, im.name, size, runtimes.low)
            report.cases.append(case)
            if pipeline:  # PyTorch as trained: its own resize of the same image
                deployed[size].append(case.ncnn_dets)
                trained[size].append(run_reference(model, training_input(pixels, size, model.cfg)).blobs[DETECTION_BLOB])
            if progress:
                progress(n * len(sizes) + k + 1, len(images) * len(sizes))
    if pipeline and used:
        report.pipelines = {s: pipeline_difference(s, used, deployed[s], trained[s], model.cfg.num_classes, tol) for s in sizes}
    return report


def verify_checkpoint(checkpoint: Path, out_dir: Path, images, sizes, tol, use_onnx=True, progress=None,
                      pipeline: bool = False, info: ModelInfo | None = None, **load_kw) -> VerifyReport:
    return verify(load_model(checkpoint, **load_kw), Path(out_dir), images, sizes, tol, use_onnx, progress, pipeline, info)
