"""What the golden-fixture scripts share (make_torchvision_golden.py, make_mmdet_golden.py): weights that
compress, and test pictures. Read back by tests/torchvision_helpers.state_dict."""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image, ImageDraw


def quantized(sd: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, np.ndarray]]:
    """Conv weights rounded to int8 steps of a power of two (exact in float32 and float16)."""
    exact, arrays = {}, {}
    for key, value in sd.items():
        if value.ndim == 4:
            step = 2.0 ** math.floor(math.log2(float(value.std())))
            q = torch.clamp(torch.round(value / step), -127, 127)
            arrays[f"q:{key}"] = q.numpy().astype(np.int8)
            arrays[f"s:{key}"] = np.float32(step)
            exact[key] = q * step
        else:
            arrays[f"t:{key}"] = value.numpy()
            exact[key] = value.clone()
    return exact, arrays


def make_images(seed: int, count: int, size: int) -> list[Image.Image]:
    """Smooth colour fields with a few filled shapes: structure for the features, no flat image-wide ties."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        coarse = rng.uniform(0, 255, size=(5, 5, 3)).astype(np.uint8)
        image = Image.fromarray(coarse).resize((size, size), Image.Resampling.BICUBIC)
        draw = ImageDraw.Draw(image)
        for _ in range(6):
            x0, y0 = rng.integers(-40, size - 20, size=2)
            w, h = rng.integers(30, 200, size=2)
            colour = tuple(int(c) for c in rng.integers(0, 256, size=3))
            shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
            shape([int(x0), int(y0), int(x0 + w), int(y0 + h)], fill=colour)
        out.append(image)
    return out
