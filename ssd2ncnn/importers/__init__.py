"""Checkpoints written by other code bases (a training repository's own layout), turned into one of our
networks plus its `SSDConfig`. Each importer is a module here that registers itself in `IMPORTERS`;
`checkpoint.load_model` picks one by name (`--from NAME`) or by asking each whether the keys match."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..errors import CheckpointError
from ..model.ssdlite import SSDDetector


@dataclass(frozen=True)
class ImportOptions:
    """What the command line may add for a foreign checkpoint (a foreign file carries no SSDConfig)."""

    preset: str | None = None
    num_classes: int | None = None
    width_mult: float | None = None


@dataclass(frozen=True)
class Importer:
    name: str  # the --from value
    description: str
    matches: Callable[[dict[str, torch.Tensor]], bool]  # True when the state dict has this layout
    # (full checkpoint dict, its state dict, options) -> a network in eval mode with the weights loaded
    load: Callable[[dict, dict[str, torch.Tensor], ImportOptions], SSDDetector]


IMPORTERS: dict[str, Importer] = {}


def register(importer: Importer) -> Importer:
    IMPORTERS[importer.name] = importer
    return importer


def detect_importer(sd: dict[str, torch.Tensor]) -> Importer | None:
    hits = [imp for imp in IMPORTERS.values() if imp.matches(sd)]
    return hits[0] if len(hits) == 1 else None


SOURCES = ("auto", "ssd2ncnn")  # plus every registered importer's name; see `source_names`


def source_names() -> list[str]:
    return list(SOURCES) + sorted(IMPORTERS)


def load_state_strict(model: torch.nn.Module, sd: dict[str, torch.Tensor], what: str) -> None:
    """Load `sd` (already renamed to the model's keys) or raise a `CheckpointError` listing what does not
    fit. BatchNorm's `num_batches_tracked` (absent from files written before torch 0.4.1) may be missing."""
    expected = model.state_dict()
    missing = sorted(k for k in set(expected) - set(sd) if not k.endswith("num_batches_tracked"))
    unexpected = sorted(set(sd) - set(expected))
    mismatched = [f"{k}: file {tuple(sd[k].shape)} vs model {tuple(v.shape)}" for k, v in expected.items() if k in sd and sd[k].shape != v.shape]
    problems = []
    for label, items in (("shape mismatches", mismatched), ("missing", missing), ("unexpected", unexpected)):
        if items:
            problems.append(f"{len(items)} {label} ({'; '.join(items[:3])}{'; ...' if len(items) > 3 else ''})")
    if problems:
        raise CheckpointError(f"checkpoint does not fit {what}: " + "; ".join(problems) + "; check --from and --width-mult")
    model.load_state_dict(sd, strict=False)


# Each importer module registers itself on import (after the registry and helpers it uses).
from . import mmdet_seed as _mmdet_seed  # noqa: E402, F401
from . import torchvision as _torchvision  # noqa: E402, F401
