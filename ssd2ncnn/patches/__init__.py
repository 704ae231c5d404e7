"""Graph rewrites on a parsed `.param` (`ncnn_format.Graph`), run by convert as one ordered list
(`registry`): the SSD tail from `SSDConfig` (`ssd_postprocess`), torchvision's box rules (`prior_clamp`,
`box_clip`), then two speed rewrites (`se_pooling`, `fuse_activation`). Importing a pass module
registers it; the order comes from each pass's priority, not from this list."""

from . import box_clip, fuse_activation, prior_clamp, se_pooling, ssd_postprocess  # noqa: F401  (they register)
from .registry import Pass, passes, run_passes

__all__ = ["Pass", "passes", "run_passes"]
