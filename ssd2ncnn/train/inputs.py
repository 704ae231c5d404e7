"""What a run trains on: the model config (from the preset and the data set's classes, or from the
resumed checkpoint) and the scanned data (`data/scan.py`), all settled before the run folder is made."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..config import SSDConfig, get_preset
from ..data.folders import DataFolder, common_class_names, open_datasets
from ..data.records import DetectionSource
from ..errors import InputError
from .options import TrainOptions


def resolve_config(opts: TrainOptions, folders: list[DataFolder] | None = None, resumed: dict | None = None) -> SSDConfig:
    """The model config; `resumed`: the training checkpoint of --resume, whose network wins (options that
    contradict it are errors, not silently ignored)."""
    if resumed is not None:
        cfg = SSDConfig.from_dict(resumed["config"], f"checkpoint {opts.resume}", "config.")
        if opts.num_classes is not None and opts.num_classes != cfg.num_classes:
            raise InputError(f"--num-classes {opts.num_classes} contradicts the resumed checkpoint ({cfg.num_classes - 1} classes + background)")
        if opts.arch is not None and opts.arch != cfg.arch:
            raise InputError(f"--arch {opts.arch} contradicts the resumed checkpoint (arch {cfg.arch}); drop --arch")
        for flag, given, saved in (("--width-mult", opts.width_mult, cfg.width_mult), ("--input-size", opts.input_size, cfg.input_size)):
            if given is not None and given != saved:
                raise InputError(f"{flag} {given} contradicts the resumed checkpoint ({flag} {saved}); drop {flag}")
        return cfg
    if opts.classes:
        names = ("background",) + tuple(opts.classes)
    else:
        names = common_class_names(folders if folders is not None else opts.roots)
    if opts.num_classes is not None and opts.num_classes != len(names):
        raise InputError(
            f"--num-classes {opts.num_classes} (with background) does not match the data set's "
            f"{len(names) - 1} classes {list(names[1:])} + background = {len(names)}"
        )
    return get_preset(opts.preset, class_names=list(names), width_mult=opts.width_mult, input_size=opts.input_size, arch=opts.arch)


@dataclass
class TrainData:
    train: DetectionSource
    val: DetectionSource | None

    def warnings(self) -> list[str]:
        """The scan's warning lines, each naming its split."""
        return [f"{s.root} [{s.split}]: {w}" for s in (self.train, self.val) if s is not None and s.scan for w in s.scan.warnings]


def open_training_data(opts: TrainOptions, cfg: SSDConfig, folders: list[DataFolder]) -> TrainData:
    """The training split of every root (concatenated) and the val split of --val-data or the first root,
    each scanned."""
    train = open_datasets(folders, opts.train_splits, cfg.class_names, strict=opts.strict)
    val_folder = DataFolder(opts.val_data) if opts.val_data is not None else folders[0]
    if opts.val_data is not None and not val_folder.has_split(opts.val_split):
        raise InputError(f"--val-data {Path(opts.val_data)} has no split {opts.val_split!r}; pass --val-split")
    val = val_folder.open(opts.val_split, cfg.class_names, strict=opts.strict) if val_folder.has_split(opts.val_split) else None
    return TrainData(train, val)
