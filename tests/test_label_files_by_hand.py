"""Class-name files beside a pytorch-ssd checkpoint (ssd2ncnn/importers/labels.py), written by hand as
qfgaohao/pytorch-ssd's `store_labels` writes them ("\\n".join(names), `vision/utils/misc.py`) and as a
data set's own labels.txt is (no BACKGROUND line)."""

from __future__ import annotations

import pytest

from ssd2ncnn.errors import CheckpointError
from ssd2ncnn.importers.labels import find_beside, names_for_head, read_label_file


def write(path, text: str | bytes):
    (path.write_bytes if isinstance(text, bytes) else path.write_text)(text)
    return path


def test_names_are_stripped_and_trailing_blank_lines_dropped(tmp_path):
    path = write(tmp_path / "labels.txt", "BACKGROUND\n  Traffic light \r\nCrème brûlée\n\n \n".encode())
    assert read_label_file(path) == ["BACKGROUND", "Traffic light", "Crème brûlée"]  # UTF-8 whatever the locale
    assert read_label_file(write(tmp_path / "empty.txt", "\n\n")) == []


@pytest.mark.parametrize("text, message", [
    ("BACKGROUND\n\ndog\n\ncat\n", "has an empty name on line 2; remove the blank line"),  # the first one
    ("\ncat\n", "has an empty name on line 1; remove the blank line"),
    (b"BACKGROUND\n\xff\xfe\n", "cannot be read as UTF-8 text ("),
])
def test_unreadable_files_are_named(tmp_path, text, message):
    path = write(tmp_path / "labels.txt", text)
    with pytest.raises(CheckpointError) as info:
        read_label_file(path)
    assert str(info.value).startswith(f"label file {path} ") and message in str(info.value)
    with pytest.raises(CheckpointError, match=r"does not exist; check --labels$"):
        read_label_file(tmp_path / "missing.txt")


def test_names_for_a_head_with_or_without_the_background_line(tmp_path):
    written = write(tmp_path / "voc-model-labels.txt", "background\ncat\ndog")  # their BACKGROUND, any case
    assert names_for_head(written, 3) == ("background", "cat", "dog")
    dataset = write(tmp_path / "labels.txt", "cat\ndog\n")
    assert names_for_head(dataset, 3) == ("BACKGROUND", "cat", "dog")


@pytest.mark.parametrize("text, classes, found", [
    ("BACKGROUND\ncat\ndog\n", 4, "3 names (first 'BACKGROUND')"),  # one name short
    ("cat\ndog\nbird\n", 3, "3 names (first 'cat')"),  # one too many without a background line
    ("cat\nBackground\n", 3, "2 names (first 'cat')"),  # background not first
    ("\n", 2, "0 names (first 'none')"),
])
def test_names_that_do_not_fit_the_head_are_an_error(tmp_path, text, classes, found):
    path = write(tmp_path / "labels.txt", text)
    with pytest.raises(CheckpointError) as info:
        names_for_head(path, classes)
    assert str(info.value) == (
        f"label file {path} has {found}, but the checkpoint's heads have {classes} classes (BACKGROUND + {classes - 1}); "
        f"pass the label file written with this checkpoint with --labels"
    )


def test_the_label_file_beside_a_checkpoint(tmp_path):
    ckpt = tmp_path / "mb2-ssd-lite.pth"
    assert find_beside(ckpt) is None
    (tmp_path / "labels.txt").mkdir()  # a folder of that name is not a label file
    assert find_beside(ckpt) is None
    open_images = write(tmp_path / "open-images-model-labels.txt", "BACKGROUND\ncat\n")
    assert find_beside(ckpt) == open_images
    voc = write(tmp_path / "voc-model-labels.txt", "BACKGROUND\ncat\n\n")  # the same names: the first of BESIDE
    assert find_beside(ckpt) == voc
    write(voc, "BACKGROUND\ndog\n")
    with pytest.raises(CheckpointError) as info:
        find_beside(ckpt)
    assert str(info.value) == (f"{voc} and {open_images} beside checkpoint {ckpt} name different classes; choose one with --labels")
