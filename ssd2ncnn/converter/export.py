"""Stage 1: PyTorch -> ONNX. The graph holds the raw per-level head maps only (no permute, no priors, no
NMS): outputs loc0..loc{K-1}, conf0..conf{K-1}, NCHW, with height and width left dynamic."""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path

import torch

from ..errors import ToolError
from ..model.ssdlite import ExportWrapper, SSDDetector
from ..modelfolder import INPUT_BLOB, head_names

OPSET = 13


def export_onnx(model: SSDDetector, path: Path, input_size: int) -> Path:
    # torch.onnx.export restores the training flag of the module it is given: export a wrapper that is
    # itself in eval mode, around a model in eval mode, so BatchNorm uses its running statistics.
    model.eval()
    wrapper = ExportWrapper(model).eval()
    names = head_names(model.cfg.num_levels)
    dynamic = {INPUT_BLOB: {2: "height", 3: "width"}} | {n: {2: f"{n}_h", 3: f"{n}_w"} for n in names}
    dummy = torch.zeros(1, 3, input_size, input_size)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            torch.onnx.export(
                wrapper,
                (dummy,),
                str(path),
                input_names=[INPUT_BLOB],
                output_names=names,
                opset_version=OPSET,
                dynamic_axes=dynamic,
                do_constant_folding=True,
                dynamo=False,
            )
    except Exception as exc:  # the exporter raises many types; all mean "this model does not export"
        raise ToolError(
            f"torch.onnx.export failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}; the model "
            f"has a layer the ONNX exporter does not support (run with --debug for the traceback)"
        ) from exc
    return path
