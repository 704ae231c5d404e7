"""Checkpoints written by other code bases (a training repository's own layout), turned into one of our
networks plus its `SSDConfig`. Each importer is a module here that registers itself in `IMPORTERS`; the
modules are those named in `importer_names.IMPORTER_MODULES` (the one table of importers).
`checkpoint.load_model` picks one by name (`--from NAME`) or by asking each whether the keys match."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path

import torch

from ..importer_names import IMPORTER_MODULES, SOURCES
from ..model.ssdlite import SSDDetector


@dataclass(frozen=True)
class ImportOptions:
    """What the command line may add for a foreign checkpoint (a foreign file carries no SSDConfig)."""

    preset: str | None = None
    num_classes: int | None = None
    width_mult: float | None = None
    # pytorch-ssd: the class-name file (else the one beside `path`) and dusty-nv's --resolution
    labels: Path | None = None
    resolution: int | None = None
    path: Path | None = None  # the checkpoint file


@dataclass(frozen=True)
class Importer:
    name: str  # the --from value, a key of importer_names.IMPORTER_MODULES (its description is there)
    matches: Callable[[dict[str, torch.Tensor]], bool]  # True when the state dict has this layout
    # (full checkpoint dict, its state dict, options) -> a network in eval mode with the weights loaded
    load: Callable[[dict, dict[str, torch.Tensor], ImportOptions], SSDDetector]
    # the ImportOptions beyond preset/num_classes/width_mult that it reads; others given are refused
    accepts: tuple[str, ...] = ()


IMPORTERS: dict[str, Importer] = {}


def register(importer: Importer) -> Importer:
    IMPORTERS[importer.name] = importer
    return importer


def detect_importer(sd: dict[str, torch.Tensor]) -> Importer | None:
    hits = [imp for imp in IMPORTERS.values() if imp.matches(sd)]
    return hits[0] if len(hits) == 1 else None


def source_names() -> list[str]:
    return list(SOURCES)


def _load_importers() -> None:
    """Import every module the names table lists (each registers itself) and check the two agree."""
    for module, _ in IMPORTER_MODULES.values():
        import_module(f"{__name__}.{module}")
    if set(IMPORTERS) != set(IMPORTER_MODULES):
        raise RuntimeError(f"importers registered {sorted(IMPORTERS)}, importer_names lists {sorted(IMPORTER_MODULES)}")


_load_importers()
