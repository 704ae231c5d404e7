"""Files shipped inside the package, found through `importlib.resources` so that they are there in an
installed wheel as in a clone: `reference/` holds the seed model's hand-edited ncnn `.param` files (the
graphs bench's structure comparison and the tests measure against); `demo/` holds the demo's trained
checkpoint (its README says how it was made) and its held-out sample images."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

SEED_PARAM_NAME = "mobilenetv3_ssdlite_voc.param"


def asset_path(*parts: str) -> Path:
    """The path of a shipped file (`resources.files` is a real folder for an installed or cloned package)."""
    return Path(str(resources.files(__name__).joinpath(*parts)))


def reference_param(name: str = SEED_PARAM_NAME) -> Path:
    return asset_path("reference", name)


DEMO_CHECKPOINT = asset_path("demo", "shapes_ssdlite.pth")
DEMO_IMAGES = asset_path("demo", "images")
