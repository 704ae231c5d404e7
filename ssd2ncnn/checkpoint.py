"""Checkpoints: `{"format": "ssd2ncnn", "version": 1, "config": SSDConfig dict, "state_dict": ...,
"meta": {...}}`, loaded only with `torch.load(weights_only=True)` so a pickle cannot run code. A bare state
dict (what most training code saves) is accepted when the caller supplies a preset."""

from __future__ import annotations

import argparse
import copy
import math
import os
import pickle
from pathlib import Path
from typing import Any

import torch

from .config import SSDConfig, get_preset
from .errors import CheckpointError
from .fileio import atomic_write
from .importers import IMPORTERS, ImportOptions, detect_importer, source_names
from .importers.restricted_pickle import restricted_load
from .model.factory import build_model
from .model.load_state import load_state_strict
from .model.ssdlite import SSDDetector

FORMAT = "ssd2ncnn"
VERSION = 1


def save_checkpoint(path: str | os.PathLike, model: SSDDetector, meta: dict[str, Any] | None = None, extra: dict[str, Any] | None = None) -> Path:
    """Write atomically: a crash mid-write never leaves a truncated checkpoint at `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "config": model.cfg.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "meta": dict(meta or {}),
    }
    payload.update(extra or {})
    with atomic_write(path) as tmp:
        torch.save(payload, tmp)
    return path


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """The raw payload, or a `CheckpointError` naming what is wrong with the file and what to do."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist; check the path")
    if path.is_dir():
        raise CheckpointError(f"checkpoint {path} is a directory; pass the .pth file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint {path} is empty (0 bytes); re-download or re-save it")
    with open(path, "rb") as fh:
        head = fh.read(4)
    if not head.startswith(b"PK\x03\x04") and not head.startswith(b"\x80"):
        # torch.save writes a zip archive (or, before torch 1.6, a pickle starting with PROTO 0x80)
        raise CheckpointError(f"checkpoint {path} is not a PyTorch file (neither a zip archive nor a pickle); check the path or re-download it")
    try:
        # torchvision's detection reference train.py saves its argparse.Namespace under "args"; a Namespace
        # is rebuilt as a plain attribute bag (no code runs), so it is the one class allowed beyond tensors
        with torch.serialization.safe_globals([argparse.Namespace]):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        text = str(exc).strip()
        if "global" not in text.lower():  # the weights-only unpickler names the GLOBAL it refused
            raise CheckpointError(f"checkpoint {path} is truncated or corrupt (bad pickle data); re-download or re-save it") from exc
        obj = _load_restricted(path)  # framework objects (mmengine's) become inert; code is still refused
    except Exception as exc:  # torch's loaders raise anything from EOFError to IndexError on junk bytes
        raise CheckpointError(
            f"checkpoint {path} is truncated or corrupt ({type(exc).__name__}: {str(exc)[:120]}); "
            f"re-download or re-save it"
        ) from exc
    if not isinstance(obj, dict):
        raise CheckpointError(f"checkpoint {path} holds a {type(obj).__name__}, expected a dict of tensors")
    return obj


def _load_restricted(path: Path) -> Any:
    """The second try for a pickle that names classes beyond tensors (`importers/restricted_pickle.py`)."""
    try:
        return restricted_load(path)
    except CheckpointError as exc:
        raise CheckpointError(
            f"checkpoint {path} was refused by safe loading (weights_only=True, then the restricted unpickler): "
            f"{exc}; if you trust it, re-save it as a plain state dict with torch.save(model.state_dict(), path)"
        ) from exc
    except Exception as exc:  # junk after a valid start, as in the first try
        raise CheckpointError(
            f"checkpoint {path} is truncated or corrupt ({type(exc).__name__}: {str(exc)[:120]}); re-download or re-save it"
        ) from exc


def _state_dict_of(obj: dict[str, Any]) -> dict[str, torch.Tensor]:
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise CheckpointError("checkpoint holds no tensors; expected an ssd2ncnn checkpoint or a state dict")
    # DataParallel / DDP prefix
    if all(k.startswith("module.") for k in tensors):
        tensors = {k[len("module."):]: v for k, v in tensors.items()}
    return tensors


def _foreign_model(obj: dict[str, Any], path: Path, source: str, opts: ImportOptions) -> SSDDetector | None:
    """The network of a checkpoint in another code base's layout, or None for our own formats."""
    if source not in source_names():
        raise CheckpointError(f"unknown checkpoint source {source!r}; choose one of {', '.join(source_names())}")
    if source == "ssd2ncnn" or obj.get("format") == FORMAT:
        if source not in ("auto", "ssd2ncnn"):
            raise CheckpointError(f"checkpoint {path} was written by ssd2ncnn, not by {source}; drop --from")
        return None
    sd = _state_dict_of(obj)
    importer = detect_importer(sd) if source == "auto" else IMPORTERS[source]
    if importer is None:
        return None
    _refuse_unread_options(opts, importer.accepts, f"a {importer.name} checkpoint")
    _check_finite(sd, path)
    return importer.load(obj, sd, opts).eval()


def _refuse_unread_options(opts: ImportOptions, accepts: tuple[str, ...], what: str) -> None:
    """An option the loader would not read is a mistake, not something to ignore silently."""
    given = [f"--{name}" for name in ("labels", "resolution") if getattr(opts, name) is not None and name not in accepts]
    if given:
        raise CheckpointError(f"{' and '.join(given)} apply to pytorch-ssd checkpoints, not to {what}; drop the option")


def _check_finite(sd: dict[str, torch.Tensor], path: Path) -> None:
    bad = [k for k, v in sd.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise CheckpointError(
            f"checkpoint {path} has NaN or inf values in {len(bad)} tensors ({', '.join(bad[:3])}"
            f"{', ...' if len(bad) > 3 else ''}); the training run diverged: use an earlier checkpoint"
        )


def _check_no_contradiction(cfg: SSDConfig, path: Path, preset: str | None, num_classes: int | None,
                            width_mult: float | None) -> None:
    """A full checkpoint says which model it is: an option that says otherwise is a mistake, not an override."""
    said = []
    if preset is not None and preset != cfg.preset:
        said.append(f"--preset {preset} (the checkpoint is {cfg.preset})")
    if num_classes is not None and num_classes != cfg.num_classes:
        said.append(f"--num-classes {num_classes} (the checkpoint has {cfg.num_classes - 1} classes + background)")
    if width_mult is not None and not math.isclose(width_mult, cfg.width_mult, rel_tol=1e-9):
        said.append(f"--width-mult {width_mult} (the checkpoint is width {cfg.width_mult})")
    if said:
        raise CheckpointError(
            f"{'; '.join(said)} contradicts the config saved in checkpoint {path}; drop the option(s): a full "
            f"checkpoint says which model it is"
        )


def load_model(
    path: str | os.PathLike,
    preset: str | None = None,
    num_classes: int | None = None,
    width_mult: float | None = None,
    source: str = "auto",
    labels: str | os.PathLike | None = None,
    resolution: int | None = None,
) -> SSDDetector:
    """An `SSDLite` in eval mode with the checkpoint's weights and config. For a bare state dict, `preset`
    (with `num_classes`, `width_mult`) gives the config; for a full checkpoint they must not contradict it."""
    path = Path(path)
    opts = ImportOptions(preset, num_classes, width_mult, Path(labels) if labels is not None else None, resolution, path)
    return model_from_payload(read_checkpoint(path), path, opts, source)


def model_from_module(
    module: torch.nn.Module,
    preset: str | None = None,
    num_classes: int | None = None,
    width_mult: float | None = None,
    source: str = "auto",
    labels: str | os.PathLike | None = None,
    resolution: int | None = None,
) -> SSDDetector:
    """An in-memory network: one of ours as it is (a copy in eval mode, so the caller's module keeps its
    mode), any other through its state dict, as `load_model` reads a file holding it (the importers
    recognise torchvision's SSDLite and the seed's layout from the keys)."""
    if not isinstance(module, torch.nn.Module):
        raise CheckpointError(f"expected a checkpoint path or a torch.nn.Module, got a {type(module).__name__}")
    where = Path(f"<{type(module).__name__} module>")
    if isinstance(module, SSDDetector):
        if source not in ("auto", "ssd2ncnn"):
            raise CheckpointError(f"the module is ssd2ncnn's own {type(module).__name__}, not {source}'s; drop source_format")
        _check_no_contradiction(module.cfg, where, preset, num_classes, width_mult)
        _check_finite(dict(module.state_dict()), where)
        return copy.deepcopy(module).eval()
    sd = {k: v.detach().cpu() for k, v in module.state_dict().items()}
    opts = ImportOptions(preset, num_classes, width_mult, Path(labels) if labels is not None else None, resolution, where)
    return model_from_payload({"state_dict": sd}, where, opts, source)


def model_from_payload(obj: dict[str, Any], path: Path, opts: ImportOptions, source: str = "auto") -> SSDDetector:
    """`load_model` after the file is read: `obj` is the checkpoint's payload, `path` names it in errors."""
    preset, num_classes, width_mult = opts.preset, opts.num_classes, opts.width_mult
    foreign = _foreign_model(obj, path, source, opts)
    if foreign is not None:
        return foreign
    _refuse_unread_options(opts, (), "this checkpoint")
    if obj.get("format") == FORMAT:
        if obj.get("version") != VERSION:
            raise CheckpointError(f"checkpoint {path} has format version {obj.get('version')}, this ssd2ncnn reads {VERSION}")
        cfg = SSDConfig.from_dict(obj.get("config"), f"checkpoint {path}", "config.")
        _check_no_contradiction(cfg, path, preset, num_classes, width_mult)
    else:
        if preset is None:
            raise CheckpointError(
                f"checkpoint {path} is a bare state dict with no SSD config; pass --preset (and --num-classes, "
                f"classes + 1 for the background, --width-mult) to say which model it is"
            )
        cfg = get_preset(preset, num_classes=num_classes, width_mult=width_mult)
    sd = _state_dict_of(obj)
    _check_finite(sd, path)
    model = build_model(cfg)
    load_state_strict(
        model, sd,
        f"checkpoint {path} does not fit the {cfg.preset} model with {cfg.num_classes - 1} classes + background and width {cfg.width_mult}",
        "check --preset, --num-classes and --width-mult",
    )
    model.eval()
    if not all(math.isfinite(float(p.detach().abs().sum())) for p in model.parameters()):
        raise CheckpointError(f"checkpoint {path} produced non-finite parameters")
    return model
