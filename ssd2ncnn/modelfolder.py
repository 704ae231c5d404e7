"""The model folder contract: what `ssd2ncnn convert` (and `quantize`) write and every other command
reads. One module owns it, so the file names, blob names, ncnn option sets and the `model.json` format
are written down once.

    OUT/model.param   ncnn graph (blob names below, as the ncnn model zoo's SSD models use them)
    OUT/model.bin     ncnn weights
    OUT/model.onnx    the exact simplified ONNX graph that was converted (outputs loc0.., conf0..)
    OUT/model.table   int8 folders only: the calibration table in ncnn2table's format
    OUT/model.json    `ModelInfo`: class names, pre-processing, input size, the SSDConfig, sha256 of the files

Imports nothing heavier than the standard library, so the runtime (`detect`, `bench`) can read a folder
without torch."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .errors import InputError

PARAM, BIN, ONNX, TABLE, MODEL_JSON = "model.param", "model.bin", "model.onnx", "model.table", "model.json"
HASHED_FILES = (PARAM, BIN, ONNX, TABLE)

FORMAT = "ssd2ncnn-model"
# 2 added "resize"; a version-1 file reads with the default resize (the deployed pipeline's).
VERSION = 2
READABLE_VERSIONS = (1, 2)

# ncnn blob names (the ncnn model zoo's SSD models: mobilenetv3_ssdlite_voc.param and its examples).
INPUT_BLOB = "input"
LOC_BLOB = "mbox_loc"  # (priors * 4,) regressions, prior order
CONF_BLOB = "mbox_conf_flatten"  # (priors * classes,) after Softmax
PRIOR_BLOB = "mbox_priorbox"  # (2, priors * 4): boxes, variances
DETECTION_BLOB = "detection_out"  # (D, 6): label, score, x1, y1, x2, y2 in [0, 1] of the input
CONTRACT_BLOBS = (LOC_BLOB, CONF_BLOB, PRIOR_BLOB, DETECTION_BLOB)


def loc_head(level: int) -> str:
    return f"loc{level}"


def conf_head(level: int) -> str:
    return f"conf{level}"


def head_names(num_levels: int) -> list[str]:
    """Raw per-level head maps: the ONNX outputs, and the ncnn blobs the SSD patch starts from."""
    return [loc_head(k) for k in range(num_levels)] + [conf_head(k) for k in range(num_levels)]


# The resize the deployed pipeline uses, and so the one `detect` uses: ncnn's own
# `ncnn::Mat::from_pixels_resize` (bilinear, stretched to input_size x input_size, no aspect kept), then
# `substract_mean_normalize(mean_vals, norm_vals)`: ncnn's examples/mobilenetv3ssdlite.cpp and its
# python model_zoo `MobileNetV3_SSDLite` do exactly that.
NCNN_RESIZE = {"function": "ncnn::Mat::from_pixels_resize", "interpolation": "bilinear", "aspect": "stretch"}

# `ncnn.Option` attributes a model folder or a command may set.
OPTION_NAMES = (
    "use_packing_layout",
    "use_fp16_storage",
    "use_fp16_arithmetic",
    "use_fp16_packed",
    "use_bf16_storage",
    "use_winograd_convolution",
    "use_sgemm_convolution",
    "lightmode",
    "use_vulkan_compute",
)
# What verify and the runtime use unless told otherwise: fp32 everywhere, so the parity tolerances hold;
# faster choices are measured in docs/tuning.md and carry their own tolerances.
PARITY_OPTIONS: dict[str, bool] = {
    "use_packing_layout": True,
    "use_fp16_storage": False,
    "use_fp16_arithmetic": False,
    "use_bf16_storage": False,
    "use_winograd_convolution": True,
    "use_sgemm_convolution": True,
    "lightmode": True,
}
# Calibration reads many intermediate blobs from one extractor: lightmode off keeps them alive.
CALIBRATION_OPTIONS: dict[str, bool] = {**PARITY_OPTIONS, "lightmode": False}


@dataclass(frozen=True)
class ModelInfo:
    """model.json. Keys this version does not model (e.g. `int8_calibration`) travel in `extra` and are
    written back unchanged."""

    input_size: int
    class_names: tuple[str, ...]
    rgb: bool
    mean_vals: tuple[float, ...]
    norm_vals: tuple[float, ...]
    config: dict[str, Any]  # SSDConfig.to_dict()
    ncnn_options: dict[str, bool] = field(default_factory=lambda: dict(PARITY_OPTIONS))
    resize: dict[str, str] = field(default_factory=lambda: dict(NCNN_RESIZE))
    fp16_weights: bool = False
    int8: bool = False
    simplified: bool = True
    input_blob: str = INPUT_BLOB
    output_blob: str = DETECTION_BLOB
    tools: dict[str, str] = field(default_factory=dict)
    sha256: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        extra = d.pop("extra")
        for k in ("class_names", "mean_vals", "norm_vals"):
            d[k] = list(d[k])
        return {"format": FORMAT, "version": VERSION, **d, **extra}

    @classmethod
    def from_dict(cls, data: Any, where: str = MODEL_JSON) -> ModelInfo:
        """A checked ModelInfo; an InputError naming the problem otherwise."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise InputError(f"{where} is not an ssd2ncnn model description; re-run `ssd2ncnn convert`")
        if data.get("version") not in READABLE_VERSIONS:
            raise InputError(
                f"{where} has format version {data.get('version')!r}; this ssd2ncnn reads {READABLE_VERSIONS}: "
                f"upgrade ssd2ncnn or re-run `ssd2ncnn convert`"
            )
        known = {f.name for f in fields(cls)} - {"extra"}
        required = ("input_size", "class_names", "rgb", "mean_vals", "norm_vals", "config")
        missing = [k for k in required if k not in data]
        if missing:
            raise InputError(f"{where} lacks {', '.join(missing)}; re-run `ssd2ncnn convert`")
        # the dict/list fields are only iterated later, so a wrong type must fail here, not as a TypeError there
        kinds = {"config": dict, "ncnn_options": dict, "resize": dict, "tools": dict, "sha256": dict,
                 "class_names": list, "mean_vals": list, "norm_vals": list}
        wrong = [f"{k} (needs a JSON {'object' if t is dict else 'array'})" for k, t in kinds.items()
                 if k in data and not isinstance(data[k], t)]
        if wrong:
            raise InputError(f"{where} has a malformed {', '.join(wrong)}; re-run `ssd2ncnn convert`")
        kw = {k: v for k, v in data.items() if k in known}
        extra = {k: v for k, v in data.items() if k not in known and k not in ("format", "version")}
        try:
            info = cls(**kw, extra=extra)
            info = replace(
                info,
                input_size=int(info.input_size),
                class_names=tuple(str(n) for n in info.class_names),
                rgb=bool(info.rgb),
                mean_vals=tuple(float(v) for v in info.mean_vals),
                norm_vals=tuple(float(v) for v in info.norm_vals),
            )
        except (TypeError, ValueError) as exc:
            raise InputError(f"{where} has a malformed value ({exc}); re-run `ssd2ncnn convert`") from exc
        if len(info.mean_vals) != 3 or len(info.norm_vals) != 3:
            raise InputError(f"{where}: mean_vals and norm_vals need 3 values each; re-run `ssd2ncnn convert`")
        if info.resize != NCNN_RESIZE:
            raise InputError(f"{where} asks for the resize {info.resize!r}; this ssd2ncnn runs {NCNN_RESIZE!r} only")
        unknown = sorted(set(info.ncnn_options) - set(OPTION_NAMES))
        if unknown:
            raise InputError(f"{where}: unknown ncnn option(s) {unknown}; known: {', '.join(OPTION_NAMES)}")
        return info

    @property
    def num_classes(self) -> int:
        """Including the background (DetectionOutput's num_class)."""
        return len(self.class_names)


def file_hashes(folder: Path) -> dict[str, str]:
    """sha256 of each contract file present in `folder`."""
    return {n: hashlib.sha256((Path(folder) / n).read_bytes()).hexdigest() for n in HASHED_FILES if (Path(folder) / n).is_file()}


def read_info(folder: str | Path, need: tuple[str, ...] = (PARAM, BIN)) -> ModelInfo:
    """The folder's checked model.json; `need` are the files the caller will open."""
    folder = Path(folder)
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise InputError(f"model folder {folder} {what}; pass the -o folder of `ssd2ncnn convert` (or `quantize`)")
    path = folder / MODEL_JSON
    if not path.is_file():
        raise InputError(f"{folder} has no {MODEL_JSON}; pass the -o folder of `ssd2ncnn convert` (or `quantize`)")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path} is not valid JSON ({exc}); re-run `ssd2ncnn convert`") from exc
    info = ModelInfo.from_dict(data, str(path))
    for name in need:
        if not (folder / name).is_file():
            raise InputError(f"{folder} lacks {name}; re-run `ssd2ncnn convert`")
    return info


def write_info(folder: str | Path, info: ModelInfo) -> ModelInfo:
    """Write model.json with the sha256 of the files now in `folder`. Callers write the folder inside
    `fileio.atomic_dir`, so a failed run leaves no partial set."""
    folder = Path(folder)
    info = replace(info, sha256=file_hashes(folder))
    (folder / MODEL_JSON).write_text(json.dumps(info.to_dict(), indent=2) + "\n")
    return info
