"""The importers by name: the one table of them. The command line reads it for `--from`'s choices and help
without importing torch (`convert --help` stays light, tests/test_cli_lazy.py), and `importers/__init__.py`
loads each module named here, which registers its importer under the same name (checked on load).

A new importer: a module in `importers/` that calls `register(Importer(name, matches, load))`, and one row
here."""

from __future__ import annotations

# --from name -> (module in ssd2ncnn/importers/, what the checkpoint is: shown by --help)
IMPORTER_MODULES: dict[str, tuple[str, str]] = {
    "mmdet": ("mmdet", "mmdetection 2.x/3.x SSDLite MobileNetV2 (configs/ssd/ssdlite_mobilenetv2*_coco.py)"),
    "pytorch-ssd": ("pytorch_ssd",
                    "qfgaohao/dusty-nv pytorch-ssd (jetson-inference train_ssd.py): mb1-ssd, mb1-ssd-lite, "
                    "mb2-ssd-lite, mb3-large/small-ssd-lite state dicts, names from the label file beside it"),
    "seed": ("mmdet_seed",
             "ujsyehao/mobilenetv3-ssd's mmdetection v1 checkpoint (backbone.bneck.*, bbox_head.reg_convs.*)"),
    "torchvision": ("torchvision",
                    "ssdlite320_mobilenet_v3_large, a state dict or a references/detection train.py checkpoint"),
}
SOURCES = ("auto", "ssd2ncnn", *sorted(IMPORTER_MODULES))  # what --from accepts


def importer_help() -> dict[str, str]:
    return {name: text for name, (_, text) in IMPORTER_MODULES.items()}
