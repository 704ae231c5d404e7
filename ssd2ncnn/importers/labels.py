"""Class-name files written beside a checkpoint by the training script: one name per line, background
first. qfgaohao/pytorch-ssd writes `voc-model-labels.txt` or `open-images-model-labels.txt`, dusty-nv's
fork (jetson-inference's `train_ssd.py`) `labels.txt`, all with `store_labels` = "\\n".join(names)
(`vision/utils/misc.py`); their readers strip each line (`run_ssd_example.py`). Names may contain spaces
("Traffic light")."""

from __future__ import annotations

from pathlib import Path

from ..errors import CheckpointError

BESIDE = ("labels.txt", "voc-model-labels.txt", "open-images-model-labels.txt")
BACKGROUND = "BACKGROUND"


def read_label_file(path: Path) -> list[str]:
    """The stripped names, trailing blank lines dropped; an empty name inside is an error."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CheckpointError(f"label file {path} does not exist; check --labels") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"label file {path} cannot be read as UTF-8 text ({exc}); pass a text file with one class name per line") from None
    names = [line.strip() for line in text.splitlines()]
    while names and not names[-1]:
        names.pop()
    if "" in names:
        raise CheckpointError(f"label file {path} has an empty name on line {names.index('') + 1}; remove the blank line")
    return names


def names_for_head(path: Path, num_classes: int) -> tuple[str, ...]:
    """Names for a head of `num_classes` outputs per anchor (background included): the file as written
    by the training script (BACKGROUND first), or a dataset's own labels.txt without it."""
    names = read_label_file(path)
    if len(names) == num_classes and names[0].upper() == BACKGROUND:
        return tuple(names)
    if len(names) == num_classes - 1 and BACKGROUND not in (n.upper() for n in names):
        return (BACKGROUND, *names)
    raise CheckpointError(
        f"label file {path} has {len(names)} names (first {names[0] if names else 'none'!r}), but the checkpoint's "
        f"heads have {num_classes} classes ({BACKGROUND} + {num_classes - 1}); pass the label file written with this "
        f"checkpoint with --labels"
    )


def find_beside(checkpoint: Path) -> Path | None:
    """The training script's label file in the checkpoint's folder; an error when several disagree."""
    found = [checkpoint.parent / name for name in BESIDE if (checkpoint.parent / name).is_file()]
    texts = {tuple(read_label_file(p)) for p in found}
    if len(texts) > 1:
        raise CheckpointError(
            f"{' and '.join(str(p) for p in found)} beside checkpoint {checkpoint} name different classes; "
            f"choose one with --labels"
        )
    return found[0] if found else None
