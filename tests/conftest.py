"""Shared fixtures: seeded "spread" checkpoints (scores not tied, so parity checks can fail) and their
conversions, built once per session in a temporary folder."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import settings

if TYPE_CHECKING:
    from ssd2ncnn.model.ssdlite import SSDLite

# torch and the converter are imported inside the helpers that need them, so the stdlib-only tests
# (ncnn_format, schema, lint) collect and run where torch is not installed.

# Property tests draw the same examples on every run (a bug is caught always or never, not 1 run in 8)
# and keep no example database (only hypothesis's own caches land in the git-ignored .hypothesis/).
# tests/test_determinism.py.
settings.register_profile("ssd2ncnn", derandomize=True, database=None)
settings.load_profile("ssd2ncnn")

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO / "ssd2ncnn" / "assets" / "reference"


def make_model(preset: str, width: float = 0.5, seed: int = 0, **kw) -> SSDLite:
    import torch

    from ssd2ncnn.config import get_preset
    from ssd2ncnn.model.spread_init import spread_init
    from ssd2ncnn.model.ssdlite import SSDLite

    torch.manual_seed(seed)
    model = SSDLite(get_preset(preset, width_mult=width, **kw))
    return spread_init(model, seed)


@pytest.fixture(scope="session")
def converted(tmp_path_factory):
    """converted(preset, width) -> (checkpoint path, OUT folder), cached per session."""
    from ssd2ncnn.checkpoint import save_checkpoint
    from ssd2ncnn.converter.convert import convert_model

    cache: dict = {}

    def build(preset: str, width: float = 0.5, fp16: bool = False):
        key = (preset, width, fp16)
        if key not in cache:
            root = tmp_path_factory.mktemp(f"{preset}-{width}-{int(fp16)}")
            model = make_model(preset, width)
            ckpt = save_checkpoint(root / "model.pth", model)
            convert_model(model, root / "out", fp16=fp16)
            cache[key] = (ckpt, root / "out")
        return cache[key]

    return build
