"""`ssd2ncnn check OUT`: a model folder against its own model.json, without the checkpoint. Catches what a
later tool changed after `convert`, and names the likely cause:

- file hashes: model.param / model.bin / model.onnx / model.table against the sha256 recorded at convert;
- blob names: `input` (an Input layer), mbox_loc, mbox_conf_flatten, mbox_priorbox, detection_out and the
  per-level heads loc0.., conf0..;
- every PriorBox (in the order mbox_priorbox concatenates them) and the DetectionOutput: the value ncnn
  will use for each param (written, or ncnn's default when absent) against the SSDConfig's, as
  `expected_params` derives them (not the writer's `priorbox_params`, so a writer bug is caught here);
- the priors ncnn produces (at the model's size and one other) against the prior generator.

ncnnoptimize is the usual culprit: its model writer knows PriorBox params 0-13 only, so it drops
`14=1 15=1` (the mmdetection step and centre rules) and the priors move by up to ~0.01 of the image.
`restore_params` writes the config's PriorBox/DetectionOutput params back into a copy of the folder."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..config import SSDConfig
from ..errors import InputError, ParamError, ToolError
from ..fileio import atomic_dir
from ..modelfolder import (
    BIN,
    CONTRACT_BLOBS,
    INPUT_BLOB,
    PARAM,
    PRIOR_BLOB,
    ModelInfo,
    file_hashes,
    head_names,
    read_info,
    write_info,
)
from ..ncnn_format import Graph, Layer, read_param, write_param
from ..ncnn_format.ids import PRIORBOX_CENTER_MMDET, PRIORBOX_STEP_MMDET, ncnn_default
from ..patches.ssd_postprocess import detection_output_params, priorbox_params
from .expected_params import expected_detection_output, expected_priorbox
from .tolerances import FP32

NCNNOPTIMIZE = ("ncnnoptimize drops PriorBox params 14 and 15 (its writer knows 0-13 only): use `convert --fp16` "
                "for half-size weights instead, or `ssd2ncnn check OUT --restore -o FIXED`")


@dataclass
class Finding:
    what: str
    cause: str = ""

    def __str__(self) -> str:
        return self.what + (f" (likely cause: {self.cause})" if self.cause else "")


@dataclass
class CheckResult:
    folder: Path
    passed_checks: list[str]
    findings: list[Finding]

    @property
    def passed(self) -> bool:
        return not self.findings


def _same(a: object, b: object) -> bool:
    if isinstance(a, list | tuple) or isinstance(b, list | tuple):
        la, lb = list(a) if isinstance(a, list | tuple) else [a], list(b) if isinstance(b, list | tuple) else [b]
        return len(la) == len(lb) and all(_same(x, y) for x, y in zip(la, lb, strict=True))
    try:
        return bool(np.isclose(float(a), float(b), rtol=1e-6, atol=1e-9))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return a == b


def _default(layer_type: str, pid: int) -> object:
    try:
        return ncnn_default(layer_type, pid)
    except KeyError:
        return None  # an id ncnn's load_param does not read


def param_differences(layer: Layer, expected: dict) -> list[tuple[int, str]]:
    """(param id, description) for each param whose effective value (written, or ncnn's load_param
    default when absent) differs from `expected`."""
    out = []
    for pid in sorted(set(expected) | set(layer.params)):
        want = expected.get(pid, _default(layer.type, pid))
        if pid in layer.params:
            got, how = layer.params[pid], "is"
        else:
            got, how = _default(layer.type, pid), "is missing, so ncnn uses its default"  # type: ignore[assignment]
        if not _same(got, want):
            out.append((pid, f"{layer.type} {layer.name}: param {pid} {how} {got!r}, the config needs {want!r}"))
    return out


def priorbox_layers(graph: Graph) -> list[Layer]:
    """The PriorBox layers in level order: the order their Concat takes them. That Concat makes
    mbox_priorbox, or sits upstream of it when the torchvision centre-size clamp
    (patches/center_size.py) rewrites the priors in between, so the search walks up from mbox_priorbox."""
    todo, seen = [PRIOR_BLOB], set()
    while todo:
        layer = graph.producer(todo.pop(0))
        if layer is None or layer.name in seen:
            continue
        seen.add(layer.name)
        inputs = [graph.producer(b) for b in layer.inputs]
        if layer.type == "Concat" and inputs and all(ly is not None and ly.type == "PriorBox" for ly in inputs):
            return inputs  # type: ignore[return-value]
        todo += layer.inputs
    return []


def _check_hashes(folder: Path, info: ModelInfo, ok: list[str], bad: list[Finding]) -> None:
    now = file_hashes(folder)
    for name, recorded in sorted(info.sha256.items()):
        if name not in now:
            bad.append(Finding(f"{name} is missing (model.json records it)", "a file was deleted after convert"))
        elif now[name] != recorded:
            bad.append(Finding(f"{name} differs from the sha256 recorded in model.json",
                               "a tool rewrote it after convert (ncnnoptimize, a hand edit)"))
    if not info.sha256:
        bad.append(Finding("model.json records no file hashes", "written by an old ssd2ncnn; re-run `ssd2ncnn convert`"))
    elif all(now.get(n) == h for n, h in info.sha256.items()):
        ok.append(f"file hashes ({', '.join(sorted(info.sha256))})")


def _check_blobs(graph: Graph, cfg: SSDConfig, ok: list[str], bad: list[Finding]) -> None:
    blobs = set(graph.blobs())
    missing = [b for b in (INPUT_BLOB, *CONTRACT_BLOBS, *head_names(cfg.num_levels)) if b not in blobs]
    source = graph.producer(INPUT_BLOB)
    if missing:
        bad.append(Finding(f"blob(s) {', '.join(missing)} missing from model.param",
                           "renamed by a tool; apps extract these names"))
    elif source is None or source.type != "Input":
        bad.append(Finding(f"blob {INPUT_BLOB!r} is not made by an Input layer", "the graph was rewired"))
    else:
        ok.append(f"blob names ({INPUT_BLOB}, {', '.join(CONTRACT_BLOBS)}, {len(head_names(cfg.num_levels))} heads)")


def _check_params(graph: Graph, cfg: SSDConfig, ok: list[str], bad: list[Finding]) -> None:
    boxes = priorbox_layers(graph)
    if len(boxes) != cfg.num_levels:
        bad.append(Finding(f"mbox_priorbox concatenates {len(boxes)} PriorBox layers, the config has "
                           f"{cfg.num_levels} levels", "the graph was rewired"))
        return
    diffs = [(pid, text) for k, ly in enumerate(boxes) for pid, text in
             param_differences(ly, expected_priorbox(cfg, k))]
    dropped = {pid for pid, _ in diffs} <= {PRIORBOX_STEP_MMDET, PRIORBOX_CENTER_MMDET} and all(
        PRIORBOX_STEP_MMDET not in ly.params and PRIORBOX_CENTER_MMDET not in ly.params for ly in boxes)
    if diffs and dropped:
        pids = sorted({pid for pid, _ in diffs})
        bad.append(Finding(f"PriorBox params {', '.join(map(str, pids))} are missing from all {len(boxes)} PriorBox "
                           f"layers, so ncnn uses 0 there: not the mmdetection step/centre rules the config needs",
                           NCNNOPTIMIZE))
    else:
        bad.extend(Finding(text, "the .param was edited after convert") for _, text in diffs)
    dets = [ly for ly in graph.layers if ly.type == "DetectionOutput"]
    if len(dets) != 1:
        bad.append(Finding(f"model.param has {len(dets)} DetectionOutput layers, expected 1", "the graph was rewired"))
        return
    det_diffs = param_differences(dets[0], expected_detection_output(cfg))
    bad.extend(Finding(text, "the .param was edited after convert") for _, text in det_diffs)
    if not diffs and not det_diffs:
        ok.append(f"PriorBox x{len(boxes)} and DetectionOutput params match the config")


def _check_priors(folder: Path, info: ModelInfo, cfg: SSDConfig, ok: list[str], bad: list[Finding]) -> None:
    from ..model.priors import prior_boxes, priorbox_blob
    from ..runtime.net import load_net, run_net

    net = load_net(folder / PARAM, folder / BIN, info.ncnn_options, num_threads=2)
    heads = head_names(cfg.num_levels)[: cfg.num_levels]
    worst = 0.0
    for size in (info.input_size, info.input_size + 32):
        got = run_net(net, np.zeros((3, size, size), np.float32), [*heads, PRIOR_BLOB])
        sizes = [(int(got[h].shape[-2]), int(got[h].shape[-1])) for h in heads]
        want = priorbox_blob(cfg, prior_boxes(cfg, sizes, (size, size)))
        if got[PRIOR_BLOB].size != want.size:
            bad.append(Finding(f"mbox_priorbox at {size} px has {got[PRIOR_BLOB].size} values, the config gives {want.size}",
                               "PriorBox params or the graph changed"))
            return
        err = float(np.abs(got[PRIOR_BLOB].reshape(-1) - want.reshape(-1)).max())
        worst = max(worst, err)
        if err > FP32.prior_atol:
            bad.append(Finding(f"priors at {size} px differ from the config's by up to {err:.3g} "
                               f"({err * size:.1f} px) > {FP32.prior_atol:g}", "PriorBox params changed (see above)"))
    if worst <= FP32.prior_atol:
        ok.append(f"priors at {info.input_size} and {info.input_size + 32} px match the config (max error {worst:.2g})")


def check_folder(folder: str | Path) -> CheckResult:
    folder = Path(folder)
    info = read_info(folder)
    cfg = info.config
    ok: list[str] = []
    bad: list[Finding] = []
    _check_hashes(folder, info, ok, bad)
    # an edited folder is what check is for: a .param that no longer parses, or that ncnn cannot load or
    # run, is one more finding (exit 1, listed with the others), not an error that hides them
    try:
        graph = read_param(folder / PARAM)
    except ParamError as exc:
        bad.append(Finding(f"model.param does not parse: {exc}", "the .param was edited after convert"))
        return CheckResult(folder, ok, bad)
    _check_blobs(graph, cfg, ok, bad)
    _check_params(graph, cfg, ok, bad)
    try:
        _check_priors(folder, info, cfg, ok, bad)
    except ToolError as exc:
        bad.append(Finding(f"ncnn cannot run the folder to check its priors: {exc}",
                           "the .param or .bin was changed after convert"))
    return CheckResult(folder, ok, bad)


def restore_params(folder: str | Path, out: str | Path, force: bool = False) -> Path:
    """A copy of `folder` with every PriorBox and the DetectionOutput param written from model.json's
    config (what ncnnoptimize dropped comes back), and model.json's hashes recording the new files."""
    folder, out = Path(folder), Path(out)
    info = read_info(folder)
    cfg = info.config
    if folder.resolve() == out.resolve():
        raise InputError("-o must differ from the model folder: the original stays as it is")
    graph = read_param(folder / PARAM)
    boxes = priorbox_layers(graph)
    dets = [ly for ly in graph.layers if ly.type == "DetectionOutput"]
    if len(boxes) != cfg.num_levels or len(dets) != 1:
        raise InputError(f"{folder}/{PARAM} does not have the SSD tail convert wrote ({len(boxes)} PriorBox for "
                         f"{cfg.num_levels} levels, {len(dets)} DetectionOutput); re-run `ssd2ncnn convert`")
    for k, ly in enumerate(boxes):
        ly.params = priorbox_params(cfg, k)
    dets[0].params = detection_output_params(cfg)
    with atomic_dir(out, force) as tmp:
        for name in folder.iterdir():
            if name.is_file() and name.name not in (PARAM,):
                shutil.copy2(name, tmp / name.name)
        write_param(graph, tmp / PARAM)
        write_info(tmp, replace(info, extra={**info.extra, "restored_from": str(folder)}))
    return out
