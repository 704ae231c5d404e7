"""The importer registry (ssd2ncnn/importers/__init__.py): which importer a state dict's keys pick, on
hand-made key lists (each importer's signature keys, written here from its module's docstring)."""

from __future__ import annotations

import pytest
import torch

from ssd2ncnn import importers
from ssd2ncnn.importers import IMPORTERS, Importer, detect_importer, register, source_names

SEED = ("backbone.bneck.0.conv1.weight", "bbox_head.reg_convs.0.3.weight")
TORCHVISION = ("head.classification_head.module_list.0.1.weight", "head.regression_head.module_list.0.1.weight",
               "backbone.features.0.0.0.weight", "backbone.extra.0.0.0.weight", "backbone.features.1.3.0.weight")
MMDET = ("backbone.layer1.0.depthwise_conv.conv.weight", "neck.extra_layers.0.1.depthwise_conv.conv.weight",
         "bbox_head.cls_convs.0.1.weight")
PYTORCH_SSD = ("base_net.0.0.weight", "extras.0.0.weight", "classification_headers.0.weight", "regression_headers.0.weight")


def keys(*names: str) -> dict[str, torch.Tensor]:
    return {k: torch.empty(0) for k in names}


def test_the_sources_and_the_registered_importers():
    assert source_names() == ["auto", "ssd2ncnn", "mmdet", "pytorch-ssd", "seed", "torchvision"]
    assert {name: imp.name for name, imp in IMPORTERS.items()} == {n: n for n in ("mmdet", "pytorch-ssd", "seed", "torchvision")}


@pytest.mark.parametrize("names, picked", [
    (SEED, "seed"), (TORCHVISION, "torchvision"), (MMDET, "mmdet"), (PYTORCH_SSD, "pytorch-ssd"),
    ((), None), (("backbone.conv1.weight",), None),
    (MMDET + TORCHVISION, None),  # two layouts at once: ambiguous, so none is guessed
])
def test_one_importer_is_picked_only_when_exactly_one_matches(names, picked):
    found = detect_importer(keys(*names))
    assert (found.name if found else None) == picked


def test_register_and_the_check_against_the_names_table(monkeypatch):
    monkeypatch.setattr(importers, "IMPORTERS", dict(IMPORTERS))
    extra = Importer("extra", lambda sd: False, lambda obj, sd, opts: None)  # type: ignore[arg-type,return-value]
    assert register(extra) is extra and importers.IMPORTERS["extra"] is extra
    with pytest.raises(RuntimeError, match=r"^importers registered \['extra', 'mmdet', 'pytorch-ssd', 'seed', 'torchvision'\], "
                                           r"importer_names lists \['mmdet', 'pytorch-ssd', 'seed', 'torchvision'\]$"):
        importers._load_importers()
    del importers.IMPORTERS["extra"]
    importers._load_importers()  # the table and the registry agree again
