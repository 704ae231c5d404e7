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
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .config import SSDConfig
from .errors import InputError
from .schema import Bool, Mapping, Text, describe, field_spec, read_fields, spec, specced

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


# Top-level copies of config values that ncnn apps read (README, "In an app"): written from the config,
# and on reading they must agree with it, so each value has one source. key -> the SSDConfig field whose
# spec it follows (norm_vals is the config's 1 / std, positive like std).
MIRRORS = {"class_names": "class_names", "rgb": "rgb", "mean_vals": "mean", "norm_vals": "std"}


@dataclass(frozen=True)
class ModelInfo:
    """model.json: the typed contract of a model folder. `config` is the parsed SSDConfig; class names, rgb,
    mean/norm values are read from it (and written beside it for apps). Keys this version does not model
    (e.g. `int8_calibration`) travel in `extra` and are written back unchanged. Each field is declared once
    with its type and range (`schema.spec`); `from_dict` refuses anything else, naming the field."""

    config: SSDConfig = field()  # required; read with SSDConfig.from_dict, its own schema
    # The size the folder was converted (and is run) at; `convert --input-size` may differ from the config's.
    input_size: int = spec(field_spec(SSDConfig, "input_size"))
    ncnn_options: dict[str, bool] = spec(Mapping(Bool(), OPTION_NAMES), factory=lambda: dict(PARITY_OPTIONS))
    resize: dict[str, str] = spec(Mapping(Text()), factory=lambda: dict(NCNN_RESIZE))
    fp16_weights: bool = spec(Bool(), False)
    int8: bool = spec(Bool(), False)
    simplified: bool = spec(Bool(), True)
    input_blob: str = spec(Text(), INPUT_BLOB)
    output_blob: str = spec(Text(), DETECTION_BLOB)
    tools: dict[str, str] = spec(Mapping(Text()), factory=dict)
    sha256: dict[str, str] = spec(Mapping(Text(pattern="[0-9a-f]{64}"), HASHED_FILES), factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.config.class_names

    @property
    def rgb(self) -> bool:
        return self.config.rgb

    @property
    def mean_vals(self) -> tuple[float, ...]:
        return self.config.mean_vals

    @property
    def norm_vals(self) -> tuple[float, ...]:
        return self.config.norm_vals

    @property
    def num_classes(self) -> int:
        """Including the background (DetectionOutput's num_class)."""
        return self.config.num_classes

    def to_dict(self) -> dict[str, Any]:
        own = {f.name: getattr(self, f.name) for f in specced(ModelInfo) if f.name != "input_size"}
        mirrors = {k: _plain(getattr(self, k)) for k in MIRRORS}
        return {"format": FORMAT, "version": VERSION, "input_size": self.input_size, **mirrors,
                "config": self.config.to_dict(), **own, **self.extra}

    @classmethod
    def from_dict(cls, data: Any, where: str = MODEL_JSON) -> ModelInfo:
        """A checked ModelInfo; an InputError naming the problem (the field, its value, what is expected)."""
        return info_from_dict(data, where)


def info_from_dict(data: Any, where: str = MODEL_JSON) -> ModelInfo:
    """`ModelInfo.from_dict`, as a function: mutmut (scripts/mutation.sh) does not mutate a classmethod's body."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InputError(f'{where} is not an ssd2ncnn model description ("format" is not "{FORMAT}"); re-run `ssd2ncnn convert`')
    version = data.get("version")
    if type(version) is not int or version not in READABLE_VERSIONS:
        raise InputError(
            f'{where} has format "version" {describe(version)}; this ssd2ncnn reads {READABLE_VERSIONS}: '
            f"upgrade ssd2ncnn or re-run `ssd2ncnn convert`"
        )
    missing = [f'"{k}"' for k in ("input_size", *MIRRORS, "config") if k not in data]
    if missing:
        raise InputError(f"{where} lacks {', '.join(missing)}; re-run `ssd2ncnn convert`")
    values, rest = read_fields(ModelInfo, data, where)
    config = SSDConfig.from_dict(rest.pop("config"), where, "config.")
    _check_mirrors(rest, config, where)
    if values.get("resize", NCNN_RESIZE) != NCNN_RESIZE:
        raise InputError(f'{where}: "resize" asks for {json.dumps(values["resize"])}; this ssd2ncnn runs {json.dumps(NCNN_RESIZE)} only')
    extra = {k: v for k, v in rest.items() if k not in ("format", "version", *MIRRORS)}
    return ModelInfo(**values, config=config, extra=extra)


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _check_mirrors(data: dict[str, Any], config: SSDConfig, where: str) -> None:
    """Each top-level copy has its config field's type, and the config's value."""
    for key, source in MIRRORS.items():
        try:
            value = field_spec(SSDConfig, source).check(data[key], key)
        except InputError as exc:
            raise InputError(f"{where}: {exc}") from None
        if value != getattr(config, key):
            shown = "1 / config.std" if key == "norm_vals" else f"config.{source}"
            raise InputError(
                f'{where}: "{key}" is {json.dumps(_plain(value))} but {shown} gives '
                f"{json.dumps(_plain(getattr(config, key)))}; they must agree (apps read the first, ssd2ncnn the "
                f"second): re-run `ssd2ncnn convert`"
            )


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
