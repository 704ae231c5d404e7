"""`quantize` as a library: OUT/ (fp32) + calibration images -> OUT_INT8/ (model.param, model.bin in ncnn
int8 format, model.table in ncnn2table's format, model.onnx copied for bench, model.json with "int8")."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InputError
from ..fileio import atomic_dir, check_writable
from ..modelfolder import BIN, CALIBRATION_OPTIONS, ONNX, PARAM, TABLE, ModelInfo, read_info, write_info
from ..ncnn_format import Graph, read_param, write_param
from ..ncnn_format.ids import CONV_INT8_SCALE_TERM, CONV_TYPES, INT8_TERM_REQUANTIZE
from ..runtime.batch import FileFailure, read_ahead
from ..runtime.images import list_images, load_image
from ..runtime.net import load_net, run_net
from ..runtime.preprocess import ncnn_input
from .calibrate import METHODS, calibrate
from .int8 import ConvWeights, check_roundtrip, read_conv_weights, write_int8, write_table
from .select import MIN_GAIN, SELECT_MODES, time_int8_vs_fp32

if TYPE_CHECKING:
    import numpy as np


@dataclass
class QuantizeJob:
    """The checked inputs of one quantization: the fp32 folder, its graph and conv weights, the calibration
    images and the layers to keep float (`skip`, grown by the speed selection)."""

    model_dir: Path
    out_dir: Path
    calib_dir: Path
    info: ModelInfo
    images: list[Path]
    graph: Graph
    convs: list[ConvWeights]
    skip: list[str]
    method: str
    percentile: float
    select: str

    @property
    def input_blob(self) -> str:
        return self.info.input_blob


def quantize_folder(
    model_dir: Path,
    calib_dir: Path,
    out_dir: Path,
    num_images: int | None = None,
    method: str = "maxabs",
    percentile: float = 99.99,
    skip: list[str] | None = None,
    force: bool = False,
    int8_depthwise: bool = False,
    requantize: bool = True,
    select: str = "speed",
    select_threads: int = 1,
    log: Callable[[str], None] | None = None,
) -> dict:
    say = log or (lambda _: None)
    job = check_job(Path(model_dir), Path(calib_dir), Path(out_dir), num_images, method, percentile, skip, force,
                    int8_depthwise, select)
    t0 = time.perf_counter()
    inputs, failed = calibration_inputs(job, say)
    say(f"calibrating {len(job.convs)} conv layers on {len(inputs)} images ({method})")
    scales, stats = calibrate(job.model_dir / PARAM, job.model_dir / BIN, job.graph, inputs, method,
                              percentile, input_blob=job.input_blob, log=log)
    t_cal = time.perf_counter() - t0
    selection, min_saving = select_by_speed(job, scales, inputs[0], select_threads, say) if select == "speed" else (None, 0.0)
    calibration = {"num_images": len(inputs), "seconds": round(t_cal, 2), "select_timings_ms": selection,
                   "select_min_saving_ms": min_saving if selection is not None else None,
                   "select_threads": select_threads if selection is not None else None}
    with atomic_dir(job.out_dir, force) as tmp:
        tables = write_int8_folder(job, scales, requantize, tmp)
        write_int8_meta(job, tables, calibration, tmp)
    return {"out_dir": str(job.out_dir), "quantized": len(tables), "float": len(job.convs) - len(tables),
            "images": len(inputs), "seconds": t_cal, "stats": stats, "failed": failed}


def calibration_inputs(job: QuantizeJob, say: Callable[[str], None]) -> tuple[list[np.ndarray], list[FileFailure]]:
    """The network input of every calibration image that can be read; each one that cannot is said (one
    line) and returned, and calibration goes on without it. None readable is an InputError."""
    inputs, failed = [], []
    for _path, image in read_ahead(load_image, job.images):
        if isinstance(image, FileFailure):
            failed.append(image)
            say(f"error: {image.path}: {image.message}")
        else:
            inputs.append(ncnn_input(image, job.info.input_size, job.info))
    if not inputs:
        raise InputError(f"none of the {len(job.images)} calibration images in {job.calib_dir} can be read; "
                         f"first: {failed[0].message}")
    return inputs, failed


def check_job(model_dir: Path, calib_dir: Path, out_dir: Path, num_images: int | None, method: str,
              percentile: float, skip: list[str] | None, force: bool, int8_depthwise: bool, select: str) -> QuantizeJob:
    """Every input checked before any work: a bad option or file is one InputError, nothing written."""
    info = read_info(model_dir)
    if info.int8:
        raise InputError(f"{model_dir} is already int8; quantize the fp32 folder written by convert")
    if method not in METHODS:
        raise InputError(f"--method must be one of {', '.join(METHODS)}, got {method!r}")
    if select not in SELECT_MODES:
        raise InputError(f"--select must be one of {', '.join(SELECT_MODES)}, got {select!r}")
    if not calib_dir.is_dir():
        raise InputError(f"calibration folder {calib_dir} is not a folder; pass a folder of images")
    images = list_images(calib_dir)
    if not images:
        raise InputError(f"no images (.jpg/.png/.bmp/...) in {calib_dir}; put a few dozen representative pictures there")
    if num_images is not None:
        if num_images < 1:
            raise InputError(f"--num-images must be >= 1, got {num_images}")
        images = images[:num_images]
    if model_dir.resolve() == out_dir.resolve():
        raise InputError("-o must differ from the model folder")
    check_writable(out_dir, force)
    graph = read_param(model_dir / PARAM)
    skip = list(skip or [])
    names = {ly.name for ly in graph.layers}
    unknown = [s for s in skip if s not in names]
    if unknown:
        raise InputError(f"--skip names unknown layer(s): {', '.join(unknown)}")
    if not int8_depthwise:
        # ncnn's x86 int8 depthwise kernels are slower than its fp32 ones: with them in int8 the model
        # ran 0.93x the fp32 speed, with them in float 1.07-1.10x (docs/int8.md)
        skip += [ly.name for ly in graph.layers if ly.type == "ConvolutionDepthWise" and ly.name not in skip]
    convs = read_conv_weights(graph, model_dir / BIN)
    return QuantizeJob(model_dir, out_dir, calib_dir, info, images, graph, convs, skip, method, percentile, select)


def select_by_speed(job: QuantizeJob, scales: dict[str, float], first_input: np.ndarray, threads: int,
                    say: Callable[[str], None]) -> tuple[dict, float]:
    """Time each candidate conv alone, fp32 against int8, on its real input (its blob from the fp32 model
    on the first calibration image); the ones not faster in int8 join `job.skip`."""
    t1 = time.perf_counter()
    say(f"timing each conv alone, fp32 against int8, at {threads} thread(s)")
    candidates = {k: v for k, v in scales.items() if k not in job.skip}
    fp32_net = load_net(job.model_dir / PARAM, job.model_dir / BIN, CALIBRATION_OPTIONS, 1)
    blobs = sorted({job.graph.layer(k).inputs[0] for k in candidates})
    activations = run_net(fp32_net, first_input, blobs, job.input_blob)
    selection, min_saving = time_int8_vs_fp32(job.graph, job.convs, candidates, activations,
                                              job.info.ncnn_options, threads)
    job.skip += [k for k, v in selection.items() if not v["int8"]]
    n_int8 = sum(v["int8"] for v in selection.values())
    say(f"  {n_int8} of {len(selection)} convs are at least {MIN_GAIN:.0%} and {min_saving:.4f} ms faster in "
        f"int8 ({time.perf_counter() - t1:.1f} s); the others stay float")
    if selection and n_int8 == 0:
        say("  no convolution is faster in int8 on this CPU at this input size: the output runs in float; "
            "--select all quantizes anyway")
    return selection, min_saving


def write_int8_folder(job: QuantizeJob, scales: dict[str, float], requantize: bool, tmp: Path) -> dict:
    """model.bin (int8 weights), model.param (with the int8 terms), checked by loading it in ncnn, the scale
    table, and model.onnx copied for bench. Returns {layer: weight scales} of the int8 layers."""
    tables = write_int8(job.graph, job.convs, scales, tmp / BIN, skip=set(job.skip), requantize=requantize)
    write_param(job.graph, tmp / PARAM)
    check_roundtrip(job.graph, tmp / BIN)
    write_table(tmp / TABLE, tables, scales)
    if (job.model_dir / ONNX).is_file():
        shutil.copy2(job.model_dir / ONNX, tmp / ONNX)
    return tables


def write_int8_meta(job: QuantizeJob, tables: dict, calibration: dict, tmp: Path) -> None:
    """model.json: the fp32 folder's, marked int8, with how it was calibrated and the new files' sha256."""
    info = job.info
    calibration_meta = {
        "method": job.method,
        "percentile": job.percentile if job.method == "percentile" else None,
        "images": str(job.calib_dir),
        "num_images": calibration["num_images"],
        "input_size": info.input_size,
        "weight_scales": "per output channel (per group for depthwise): 127 / max|w|",
        "select": job.select,
        "select_timings_ms": calibration["select_timings_ms"],
        "select_min_saving_ms": calibration["select_min_saving_ms"],
        "select_threads": calibration["select_threads"],
        "quantized_layers": len(tables),
        "requantized_layers": sorted(ly.name for ly in job.graph.layers if ly.type in CONV_TYPES
                                     and ly.get_int(CONV_INT8_SCALE_TERM) > INT8_TERM_REQUANTIZE),
        "float_layers": sorted(c.name for c in job.convs if c.name not in tables),
        "seconds": calibration["seconds"],
        "from": str(job.model_dir),
    }
    write_info(tmp, replace(info, int8=True, extra={**info.extra, "int8_calibration": calibration_meta}))
