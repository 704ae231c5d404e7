"""Loading a state dict into a network strictly, with one error that lists what does not fit (shape
mismatches first: they name the wrong option). Shared by our checkpoints and every importer."""

from __future__ import annotations

import torch
from torch import nn

from ..errors import CheckpointError


def _few(items: list[str], n: int = 3) -> str:
    return "; ".join(items[:n]) + ("; ..." if len(items) > n else "")


def load_state_strict(model: nn.Module, sd: dict[str, torch.Tensor], what: str, hint: str) -> None:
    """Load `sd` (already in the model's key names) or raise `CheckpointError("{what}: ...; {hint}")`.
    BatchNorm's `num_batches_tracked` may be missing (files written before torch 0.4.1 lack it)."""
    expected = model.state_dict()
    missing = sorted(k for k in set(expected) - set(sd) if not k.endswith("num_batches_tracked"))
    unexpected = sorted(set(sd) - set(expected))
    mismatched = [f"{k}: checkpoint {tuple(sd[k].shape)} vs model {tuple(v.shape)}"
                  for k, v in expected.items() if k in sd and sd[k].shape != v.shape]
    problems = [f"{len(items)} {label} ({_few(items)})"
                for label, items in (("shape mismatches", mismatched), ("missing", missing), ("unexpected", unexpected)) if items]
    if problems:
        raise CheckpointError(f"{what}: " + "; ".join(problems) + f"; {hint}")
    model.load_state_dict(sd, strict=False)
