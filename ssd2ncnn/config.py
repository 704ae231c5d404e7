"""`SSDConfig`: the one place anchors, thresholds and normalisation are written down.

It is saved inside every checkpoint and read by everything downstream: the PyTorch heads, the PyTorch
prior generator, the PriorBox/DetectionOutput params of the `.param`, the reference post-processing and
the verifier. Prior semantics follow ncnn's `src/layer/priorbox.cpp`:

- `step_rule="exact"`: step = image / feature (ncnn default); `"ceil"`: step = ceil(image / feature)
  (PriorBox param 14, mmdetection's integer strides: 300 -> 16, 30, 60, 100, 150, 300; 320 -> 16, 32, 64,
  107, 160, 320, which is exactly mmdetection v2 SSDLite's stride list).
- `step_rule="fixed"`: step = `strides[level]` pixels whatever the input size (PriorBox params 11/12):
  qfgaohao/dusty-nv pytorch-ssd's `SSDSpec` shrinkages 16, 32, 64, 100, 150, 300, which neither rule above
  gives (300 / 10 = 30, not 32). Their prior table is built for 300 only, and so is such a model.
- `center_rule="standard"`: centre = (j + offset) * step; `"mmdet_v1"`: centre = offset * (step - 1) +
  j * step (PriorBox param 15, mmdetection v1's `(base_size - 1) / 2`).

Apart from the fixed rule, steps are never stored as numbers: they follow the input size, so one `.param`
runs at any input size.

Two torchvision rules that ncnn's layers lack are written as graph rewrites (`patches/prior_clamp.py`, `patches/box_clip.py`):
`clip_rule="center_size"` (priors' w, h clamped before the corners are taken) and `clip_boxes` (decoded boxes
clipped to the image before NMS); `torchvision_ssdlite320` below sets both. pytorch-ssd clamps all four
(cx, cy, w, h) (`clip_rule="center_size_all"`, the same rewrite with the centres clamped too).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

from .errors import InputError
from .schema import Bool, Int, Real, Seq, Text, check_fields, read_fields, spec

VOC_CLASSES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
    "tvmonitor",
)

STEP_RULES = ("exact", "ceil", "fixed")
CENTER_RULES = ("standard", "mmdet_v1")
SCORE_ACTIVATIONS = ("softmax", "sigmoid")
# "corners": clip (x1, y1, x2, y2) to [0, 1] (ncnn PriorBox, Caffe); "center_size": clamp w and h to [0, 1]
# in (cx, cy, w, h) form, before the corners are taken (torchvision's DefaultBoxGenerator).
# "center_size_all": clamp cx, cy, w and h to [0, 1] (pytorch-ssd's `generate_ssd_priors(clamp=True)`).
CLIP_RULES = ("corners", "center_size", "center_size_all")
# Network architectures `model.factory.build_model` can build; each variant adds its name here.
# "torchvision" / "torchvision_full_tail": torchvision's ssdlite320_mobilenet_v3_large with the reduced
# (COCO weights) or the full MobileNetV3 tail (`model/tv_ssdlite.py`).
# "seed": ujsyehao/mobilenetv3-ssd's own network (model/seed_mobilenetv3.py).
ARCHES: tuple[str, ...] = ("ssdlite", "seed", "torchvision", "torchvision_full_tail")
# The ones built from a preset here (`init`, `train`); torchvision's are imported from its checkpoints.
PRESET_ARCHES = ARCHES[:2]
# qfgaohao/dusty-nv pytorch-ssd's nets, with their state-dict layout (model/pytorch_ssd_*.py).
PYTORCH_SSD_ARCHES = ("mb1-ssd", "mb1-ssd-lite", "mb2-ssd-lite", "mb3-large-ssd-lite", "mb3-small-ssd-lite")
ARCHES += PYTORCH_SSD_ARCHES
# mmdetection 2.x/3.x SSDLite MobileNetV2 (`configs/ssd/ssdlite_mobilenetv2*_coco.py`, model/mmdet_ssdlite.py).
MMDET_ARCH = "mmdet_ssdlite"
ARCHES += (MMDET_ARCH,)
# How the source checkpoint ordered each anchor's class channels. Importers permute the weights so that the
# network here always has the background at channel 0; the source's order is kept for the record.
CLASS_ORDERS = ("background_first", "background_last")


POSITIVE = Real(0, None, lo_open=True)


@dataclass(frozen=True)
class SSDConfig:
    """Everything that defines an SSD detector beyond its weights. `class_names[0]` is the background.

    Each field is declared once with its type and range (`schema.spec`): `from_dict` (model.json, a
    checkpoint) refuses anything else, naming the field. A new field is one line here, with its default so
    that configs written before it still read."""

    preset: str = spec(Text())
    input_size: int = spec(Int(32, 8192))
    class_names: tuple[str, ...] = spec(Seq(Text(), min_len=2, words="an array of non-empty names, the background first, then at least one class"))
    min_sizes: tuple[float, ...] = spec(Seq(POSITIVE, min_len=1))
    max_sizes: tuple[float, ...] = spec(Seq(POSITIVE))
    aspect_ratios: tuple[tuple[float, ...], ...] = spec(Seq(Seq(POSITIVE), min_len=1))
    # Input pre-processing, in 0..255 pixel units and in the channel order given by `rgb`.
    mean: tuple[float, float, float] = spec(Seq(Real(), length=3), (123.675, 116.28, 103.53))
    std: tuple[float, float, float] = spec(Seq(POSITIVE, length=3), (1.0, 1.0, 1.0))
    rgb: bool = spec(Bool(), True)
    width_mult: float = spec(Real(0, 4, lo_open=True), 1.0)
    # Which network the weights belong to (see ARCHES); the priors and post-processing are all above.
    arch: str = spec(Text(ARCHES), "ssdlite")
    # SSDLite extras: (1x1 mid channels, output channels) per extra level, at width 1.0.
    extras: tuple[tuple[int, int], ...] = spec(Seq(Seq(Int(1), length=2)), ((256, 512), (128, 256), (128, 256), (64, 128)))
    # Prior rules (see module docstring).
    step_rule: str = spec(Text(STEP_RULES), "ceil")
    center_rule: str = spec(Text(CENTER_RULES), "mmdet_v1")
    offset: float = spec(Real(0, 1), 0.5)
    clip: bool = spec(Bool(), False)
    clip_rule: str = spec(Text(CLIP_RULES), "corners")
    variances: tuple[float, float, float, float] = spec(Seq(POSITIVE, length=4), (0.1, 0.1, 0.2, 0.2))
    # Post-processing, as ncnn DetectionOutput runs it.
    score_activation: str = spec(Text(SCORE_ACTIVATIONS), "softmax")
    nms_threshold: float = spec(Real(0, 1), 0.45)
    conf_threshold: float = spec(Real(0, 1, hi_open=True), 0.01)
    nms_top_k: int = spec(Int(1), 300)
    keep_top_k: int = spec(Int(1), 100)
    # Clip decoded boxes to the image before NMS (torchvision's `postprocess_detections`); ncnn's
    # DetectionOutput does not, so the graph rewrite decodes and clips in the graph first.
    clip_boxes: bool = spec(Bool(), False)
    # The nominal strides the step rule reproduces at `input_size` (documentation; a test checks it),
    # except with step_rule "fixed", where they are the steps, in pixels, per level.
    strides: tuple[int, ...] = spec(Seq(Int(1)), ())
    # ---- imported checkpoints: what a foreign source trained with ----
    # BatchNorm epsilon, read by the networks whose sources differ in it: pytorch-ssd (PyTorch's default,
    # 1e-5) and mmdet (its SSDLite config: 1e-3). ssdlite and torchvision (1e-3) and seed (1e-5) fix their own.
    bn_eps: float = spec(Real(0, 1, lo_open=True, hi_open=True), 1e-5)
    # The source's class-channel order (CLASS_ORDERS); mmdetection puts the background last.
    source_class_order: str = spec(Text(CLASS_ORDERS), "background_first")

    # ---- derived -------------------------------------------------------------------------------
    @property
    def num_classes(self) -> int:
        """Number of classes including the background (ncnn DetectionOutput's `num_class`)."""
        return len(self.class_names)

    @property
    def num_levels(self) -> int:
        return len(self.min_sizes)

    def priors_per_cell(self, level: int) -> int:
        """min box, sqrt(min*max) box, then (r, 1/r) for each aspect ratio (PriorBox with flip=1)."""
        return 1 + (1 if self.max_sizes else 0) + 2 * len(self.aspect_ratios[level])

    @property
    def mean_vals(self) -> tuple[float, float, float]:
        return self.mean

    @property
    def norm_vals(self) -> tuple[float, float, float]:
        """ncnn's `substract_mean_normalize` multiplies: norm = 1 / std."""
        return tuple(1.0 / s for s in self.std)  # type: ignore[return-value]

    def step_for(self, image_size: int, feature_size: int, level: int = 0) -> float:
        if self.step_rule == "fixed":
            return float(self.strides[level])
        step = image_size / feature_size
        return float(math.ceil(step)) if self.step_rule == "ceil" else step

    # ---- checks and (de)serialisation ------------------------------------------------------------
    def validate(self, where: str = "", prefix: str = "") -> SSDConfig:
        """Each field against its spec, then the rules that tie fields together; `self` when all hold."""
        where = where or f"SSD config {self.preset!r}"
        check_fields(self, where, prefix)

        def bad(msg: str) -> InputError:
            return InputError(f"{where}: {msg}")

        for name in ("min_sizes", "aspect_ratios"):
            if len(getattr(self, name)) != 6:
                raise bad(f'"{prefix}{name}" must have 6 entries (the SSDLite model has 6 levels), got {len(getattr(self, name))}')
        if self.max_sizes and len(self.max_sizes) != len(self.min_sizes):
            raise bad(f'"{prefix}max_sizes" must have {len(self.min_sizes)} entries (one per min size) or none, got {len(self.max_sizes)}')
        for k, (lo, hi) in enumerate(zip(self.min_sizes, self.max_sizes)):
            if not lo <= hi:
                raise bad(f'"{prefix}max_sizes[{k}]" must be >= "{prefix}min_sizes[{k}]" ({lo:g}), got {hi:g}')
        if self.step_rule == "fixed" and len(self.strides) != self.num_levels:
            raise bad(f'step_rule "fixed" needs one "{prefix}strides" entry per level ({self.num_levels}), got {len(self.strides)}')
        return self

    def to_dict(self) -> dict[str, Any]:
        """Plain types only, so a checkpoint holding it loads with `torch.load(weights_only=True)`."""
        d = asdict(self)
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()} | {
            "aspect_ratios": [list(r) for r in self.aspect_ratios],
            "extras": [list(e) for e in self.extras],
        }

    @classmethod
    def from_dict(cls, data: Any, where: str = "SSD config", prefix: str = "") -> SSDConfig:
        """A checked config from its plain form (model.json's "config", a checkpoint's "config"); an
        InputError starting with `where` and naming the field (with `prefix`) otherwise. Fields absent from
        `data` take their defaults: configs written before a field existed still read."""
        values, unknown = read_fields(cls, data, where, prefix)
        if unknown:
            raise InputError(
                f"{where}: unknown {prefix or 'config '}field(s) {', '.join(sorted(unknown))}; was it written by a "
                f"newer ssd2ncnn?"
            )
        return cls(**values).validate(where, prefix)

    def with_num_classes(self, num_classes: int, class_names: list[str] | None = None) -> SSDConfig:
        """A copy for `num_classes` classes including the background; names default to class1..classN-1."""
        if class_names is not None:
            names = tuple(class_names)
        elif num_classes == self.num_classes:
            names = self.class_names
        else:
            names = ("background",) + tuple(f"class{i}" for i in range(1, num_classes))
        if len(names) != num_classes:
            raise InputError(f"expected {num_classes} class names (background first), got {len(names)}")
        return replace(self, class_names=names).validate()


PRESETS: dict[str, SSDConfig] = {
    # The seed model as deployed (ssd2ncnn/assets/reference/mobilenetv3_ssdlite_voc.param).
    "voc300": SSDConfig(
        preset="voc300",
        input_size=300,
        class_names=VOC_CLASSES,
        min_sizes=(60, 105, 150, 195, 240, 285),
        max_sizes=(105, 150, 195, 240, 285, 300),
        aspect_ratios=((2,), (2, 3), (2, 3), (2, 3), (2,), (2,)),
        step_rule="ceil",
        center_rule="mmdet_v1",
        strides=(16, 30, 60, 100, 150, 300),
    ),
    # mmdetection v2 SSDLite: strides 16,32,64,107,160,320 with centres at stride / 2.
    "ssdlite320": SSDConfig(
        preset="ssdlite320",
        input_size=320,
        class_names=VOC_CLASSES,
        min_sizes=(48, 100, 150, 202, 253, 304),
        max_sizes=(100, 150, 202, 253, 304, 320),
        aspect_ratios=((2, 3),) * 6,
        step_rule="ceil",
        center_rule="standard",
        strides=(16, 32, 64, 107, 160, 320),
    ),
}


def get_preset(
    name: str,
    num_classes: int | None = None,
    width_mult: float | None = None,
    class_names: list[str] | None = None,
    input_size: int | None = None,
    arch: str | None = None,
) -> SSDConfig:
    if name not in PRESETS:
        raise InputError(f"unknown preset {name!r}; choose one of: {', '.join(sorted(PRESETS))}")
    cfg = PRESETS[name]
    if arch is not None:  # the network is independent of the priors and post-processing a preset fixes
        cfg = replace(cfg, arch=arch)
    if width_mult is not None:
        cfg = replace(cfg, width_mult=float(width_mult))
    if input_size is not None and input_size != cfg.input_size:
        # A different nominal size scales the anchor sizes with it, so priors cover the same image fraction.
        k = input_size / cfg.input_size
        cfg = replace(
            cfg,
            input_size=int(input_size),
            min_sizes=tuple(round(s * k, 3) for s in cfg.min_sizes),
            max_sizes=tuple(round(s * k, 3) for s in cfg.max_sizes),
            strides=(),
        )
    if num_classes is not None or class_names is not None:
        n = num_classes if num_classes is not None else len(class_names or ())
        cfg = cfg.with_num_classes(n, class_names)
    return cfg.validate()


def torchvision_ssdlite320(class_names: tuple[str, ...], full_tail: bool = False) -> SSDConfig:
    """torchvision's `ssdlite320_mobilenet_v3_large` (pytorch/vision 0.29, `models/detection/ssdlite.py`),
    written as an SSDConfig. Anchors: `DefaultBoxGenerator([[2, 3]] * 6, min_ratio=0.2, max_ratio=0.95)`,
    scales s_k = 0.2 + 0.75 k / 5 and a last scale of 1.0 (`anchor_utils.py`), boxes s_k and
    sqrt(s_k s_k+1) then (s_k sqrt(r), s_k / sqrt(r)) pairs: ncnn PriorBox's min/max/aspect-ratio order with
    min = s_k * 320 and max = s_k+1 * 320 px; centres (j + 0.5) / f_k (exact step, offset 0.5); (w, h)
    clamped to [0, 1] in centre-size form. Input: fixed 320 x 320 bilinear resize, then
    (x / 255 - 0.5) / 0.5 = (pixel - 127.5) / 127.5. Post-processing (`ssd.py` and the builder's defaults):
    softmax, BoxCoder weights (10, 10, 5, 5) = variances (0.1, 0.1, 0.2, 0.2), boxes clipped to the image,
    score > 0.001, top 300 per class, NMS 0.55 per class, 300 detections."""
    size = 320
    scales = [0.2 + (0.95 - 0.2) * k / 5.0 for k in range(6)] + [1.0]
    return SSDConfig(
        preset="torchvision-ssdlite320",
        input_size=size,
        class_names=tuple(class_names),
        min_sizes=tuple(s * size for s in scales[:6]),
        max_sizes=tuple(s * size for s in scales[1:]),
        aspect_ratios=((2, 3),) * 6,
        mean=(127.5, 127.5, 127.5),
        std=(127.5, 127.5, 127.5),
        arch="torchvision_full_tail" if full_tail else "torchvision",
        step_rule="exact",
        center_rule="standard",
        offset=0.5,
        clip=True,
        clip_rule="center_size",
        variances=(0.1, 0.1, 0.2, 0.2),
        nms_threshold=0.55,
        conf_threshold=0.001,
        nms_top_k=300,
        keep_top_k=300,
        clip_boxes=True,
    ).validate()


# ---- qfgaohao / dusty-nv pytorch-ssd -------------------------------------------------------------------
PYTORCH_SSD_SIZE = 300  # the size their prior table (`mobilenetv1_ssd_config.priors`) is built for


def pytorch_ssd(class_names: tuple[str, ...], arch: str, resolution: int | None = None) -> SSDConfig:
    """qfgaohao/pytorch-ssd's MobileNet nets, all of which use `vision/ssd/config/mobilenetv1_ssd_config.py`
    (qfgaohao 7a839cb): `SSDSpec`s (19, 16, (60, 105)) (10, 32, (105, 150)) (5, 64, (150, 195)) (3, 100,
    (195, 240)) (2, 150, (240, 285)) (1, 300, (285, 330)), ratios [2, 3] each: centres (i + 0.5) * shrinkage
    / 300 (fixed steps), boxes min, sqrt(min*max), then (r, 1/r) pairs; `generate_ssd_priors(clamp=True)`
    clamps cx, cy, w, h to [0, 1]. Input: RGB, (pixel - 127) / 128 at 300 x 300. `Predictor`
    (`vision/ssd/predictor.py`): softmax, variances 0.1 / 0.2, per class score > 0.01, the best 200
    (`candidate_size`), hard NMS 0.45, no global cap: up to 200 per foreground class.

    `resolution` (dusty-nv's later `--resolution`, mb1-ssd only) rebuilds the specs as their
    `set_image_size` does at any size but 300: steps ceil(size / feature), min sizes 10, 20, 37, 54, 71, 88 %
    and max sizes 20, 37, 54, 71, 88, 105 % of the size, the same clamp."""
    size = PYTORCH_SSD_SIZE if resolution is None else int(resolution)
    strides: tuple[int, ...]
    if size == PYTORCH_SSD_SIZE:
        min_sizes: tuple[float, ...] = (60, 105, 150, 195, 240, 285)
        max_sizes: tuple[float, ...] = (105, 150, 195, 240, 285, 330)
        rule, strides = "fixed", (16, 32, 64, 100, 150, 300)
    else:
        percents = (10, 20, 37, 54, 71, 88, 105)
        min_sizes = tuple(size * p / 100.0 for p in percents[:6])
        max_sizes = tuple(size * p / 100.0 for p in percents[1:])
        rule, strides = "ceil", ()
    return SSDConfig(
        preset="pytorch-ssd",
        input_size=size,
        class_names=tuple(class_names),
        min_sizes=min_sizes,
        max_sizes=max_sizes,
        aspect_ratios=((2, 3),) * 6,
        mean=(127.0, 127.0, 127.0),
        std=(128.0, 128.0, 128.0),
        rgb=True,
        arch=arch,
        step_rule=rule,
        center_rule="standard",
        offset=0.5,
        clip=True,
        clip_rule="center_size_all",
        variances=(0.1, 0.1, 0.2, 0.2),
        nms_threshold=0.45,
        conf_threshold=0.01,
        nms_top_k=200,
        keep_top_k=200 * (len(class_names) - 1),
        strides=strides,
        bn_eps=1e-5,
    ).validate()


# mmdetection's SSDLite MobileNetV2 (configs/ssd/ssdlite_mobilenetv2-scratch_8xb24-600e_coco.py, 3.x; the
# 2.x ssdlite_mobilenetv2_scratch_600e_coco.py is the same model). At most this many (prior, class) pairs
# per level reach NMS there (test_cfg nms_pre=1000, 6 levels): no class can bring more candidates.
MMDET_NMS_PRE, MMDET_LEVELS = 1000, 6


def mmdet_ssdlite320(class_names: tuple[str, ...], width_mult: float = 1.0) -> SSDConfig:
    """The mmdetection config written as an SSDConfig. Anchors: `SSDAnchorGenerator(strides=[16, 32, 64,
    107, 160, 320], ratios=[[2, 3]] * 6, min_sizes=[48, 100, 150, 202, 253, 304], max_sizes=[100, 150,
    202, 253, 304, 320])`: centres at j * stride + stride / 2, sizes min, sqrt(min * max), then (r, 1/r)
    pairs, no clipping; the strides are ceil(320 / f), so the ceil step rule with offset 0.5 (and it follows
    other input sizes). Input: RGB, mean 123.675/116.28/103.53, std 58.395/57.12/57.375. Boxes:
    DeltaXYWHBBoxCoder stds (0.1, 0.1, 0.2, 0.2) with clip_border (clipped to the image before NMS).
    test_cfg: softmax, score_thr 0.02, NMS 0.45, max_per_img 200. BN eps 1e-3 in every ConvModule."""
    return SSDConfig(
        preset="mmdet-ssdlite320",
        input_size=320,
        class_names=tuple(class_names),
        min_sizes=(48, 100, 150, 202, 253, 304),
        max_sizes=(100, 150, 202, 253, 304, 320),
        aspect_ratios=((2, 3),) * 6,
        mean=(123.675, 116.28, 103.53),
        std=(58.395, 57.12, 57.375),
        rgb=True,
        width_mult=float(width_mult),
        arch=MMDET_ARCH,
        step_rule="ceil",
        center_rule="standard",
        offset=0.5,
        clip=False,
        variances=(0.1, 0.1, 0.2, 0.2),
        nms_threshold=0.45,
        conf_threshold=0.02,
        nms_top_k=MMDET_NMS_PRE * MMDET_LEVELS,
        keep_top_k=200,
        clip_boxes=True,
        strides=(16, 32, 64, 107, 160, 320),
        bn_eps=1e-3,
        source_class_order="background_last",
    ).validate()
