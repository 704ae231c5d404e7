"""`quantize` as a library: OUT/ (fp32) + calibration images -> OUT_INT8/ (model.param, model.bin in ncnn
int8 format, model.table in ncnn2table's format, model.onnx copied for bench, model.json with "int8")."""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from ..bench.suite import read_meta
from ..converter.outdir import atomic_dir, check_writable
from ..errors import InputError
from ..ncnn_format import read_param, write_param
from ..ncnn_format.ids import CONV_INT8_SCALE_TERM, CONV_TYPES, INT8_TERM_REQUANTIZE
from ..runtime.images import list_images, load_image
from ..runtime.net import load_net, run_net
from ..runtime.preprocess import preprocess_image
from .calibrate import METHODS, calibrate
from .int8 import check_roundtrip, read_conv_weights, write_int8, write_table
from .select import MIN_GAIN, SELECT_MODES, time_int8_vs_fp32


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
    model_dir, calib_dir, out_dir = Path(model_dir), Path(calib_dir), Path(out_dir)
    meta = read_meta(model_dir)
    if meta.get("int8"):
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
    graph = read_param(model_dir / "model.param")
    skip = list(skip or [])
    names = {ly.name for ly in graph.layers}
    unknown = [s for s in skip if s not in names]
    if unknown:
        raise InputError(f"--skip names unknown layer(s): {', '.join(unknown)}")
    if not int8_depthwise:
        # ncnn's x86 int8 depthwise kernels are slower than its fp32 ones: with them in int8 the model
        # ran 0.93x the fp32 speed, with them in float 1.07-1.10x (docs/int8.md)
        skip += [ly.name for ly in graph.layers if ly.type == "ConvolutionDepthWise" and ly.name not in skip]
    convs = read_conv_weights(graph, model_dir / "model.bin")

    t0 = time.perf_counter()
    size = int(meta["input_size"])
    inputs = [preprocess_image(load_image(p), size, meta) for p in images]  # load_image: InputError on a bad file
    if log:
        log(f"calibrating {len(convs)} conv layers on {len(inputs)} images ({method})")
    scales, stats = calibrate(model_dir / "model.param", model_dir / "model.bin", graph, inputs, method, percentile,
                              input_blob=meta.get("input_blob", "input"), log=log)
    t_cal = time.perf_counter() - t0
    selection, min_saving = None, 0.0
    if select == "speed":
        t1 = time.perf_counter()
        if log:
            log(f"timing each conv alone, fp32 against int8, at {select_threads} thread(s)")
        candidates = {k: v for k, v in scales.items() if k not in skip}
        # each candidate's real input: its blob from the fp32 model on the first calibration image
        fp32_net = load_net(model_dir / "model.param", model_dir / "model.bin", {"lightmode": False}, 1)
        blobs = sorted({graph.layer(k).inputs[0] for k in candidates})
        activations = run_net(fp32_net, inputs[0], blobs, meta.get("input_blob", "input"))
        selection, min_saving = time_int8_vs_fp32(graph, convs, candidates, activations, meta.get("ncnn_options"), select_threads)
        skip += [k for k, v in selection.items() if not v["int8"]]
        if log:
            n_int8 = sum(v["int8"] for v in selection.values())
            log(f"  {n_int8} of {len(selection)} convs are at least {MIN_GAIN:.0%} and {min_saving:.4f} ms faster in "
                f"int8 ({time.perf_counter() - t1:.1f} s); the others stay float")
            if selection and n_int8 == 0:
                log("  no convolution is faster in int8 on this CPU at this input size: the output runs in float; "
                    "--select all quantizes anyway")
    with atomic_dir(out_dir, force) as tmp:
        tables = write_int8(graph, convs, scales, tmp / "model.bin", skip=set(skip), requantize=requantize)
        write_param(graph, tmp / "model.param")
        check_roundtrip(graph, tmp / "model.bin")
        write_table(tmp / "model.table", tables, scales)
        if (model_dir / "model.onnx").is_file():
            shutil.copy2(model_dir / "model.onnx", tmp / "model.onnx")
        new_meta = dict(meta)
        new_meta["int8"] = True
        new_meta["int8_calibration"] = {
            "method": method,
            "percentile": percentile if method == "percentile" else None,
            "images": str(calib_dir),
            "num_images": len(inputs),
            "input_size": meta["input_size"],
            "weight_scales": "per output channel (per group for depthwise): 127 / max|w|",
            "select": select,
            "select_timings_ms": selection,
            "select_min_saving_ms": min_saving if selection is not None else None,
            "select_threads": select_threads if selection is not None else None,
            "quantized_layers": len(tables),
            "requantized_layers": sorted(ly.name for ly in graph.layers if ly.type in CONV_TYPES and ly.get_int(CONV_INT8_SCALE_TERM) > INT8_TERM_REQUANTIZE),
            "float_layers": sorted(c.name for c in convs if c.name not in tables),
            "seconds": round(t_cal, 2),
            "from": str(model_dir),
        }
        sha = dict(meta.get("sha256") or {})
        for name in ("model.param", "model.bin", "model.onnx"):
            if (tmp / name).is_file():
                sha[name] = hashlib.sha256((tmp / name).read_bytes()).hexdigest()
        new_meta["sha256"] = sha
        (tmp / "model.json").write_text(json.dumps(new_meta, indent=2) + "\n")
    return {"out_dir": str(out_dir), "quantized": len(tables), "float": len(convs) - len(tables),
            "images": len(inputs), "seconds": t_cal, "stats": stats}
