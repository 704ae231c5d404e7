"""The pictures people judge a run by, drawn with matplotlib (Agg, no display; imported when first drawn,
so `import ssd2ncnn` and the CLI start-up stay fast): `curves.png` of a training run (losses, learning
rate, val mAP per epoch, as Ultralytics' results.png) and the per-class precision-recall plot of `eval`."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..fileio import atomic_write

CURVES_SIZE = (1200, 800)  # pixels of curves.png
PR_PANEL = 320  # pixels per class panel of the PR plot
DPI = 100


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only: no display, same output everywhere
    import matplotlib.pyplot as plt

    return plt



def _save(fig: Any, path: Path) -> None:
    plt = _pyplot()
    try:
        with atomic_write(path) as tmp:
            fig.savefig(tmp, format="png", dpi=DPI)
    finally:
        plt.close(fig)


def _series(history: Sequence[dict], key: str) -> tuple[list[int], list[float]]:
    rows = [r for r in history if r.get(key) is not None]
    return [int(r["epoch"]) for r in rows], [float(r[key]) for r in rows]


def plot_curves(history: Sequence[dict], path: Path, title: str = "") -> None:
    """Losses (localisation, classification, total), learning rate and val mAP(07) per epoch."""
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(2, 2, figsize=(CURVES_SIZE[0] / DPI, CURVES_SIZE[1] / DPI), dpi=DPI)
    panels = ((axes[0, 0], "training loss", (("loss_loc", "localisation"), ("loss_conf", "classification"), ("loss", "total"))),
              (axes[0, 1], "val mAP (VOC07, IoU 0.5)", (("map07", "mAP"),)),
              (axes[1, 0], "learning rate (end of epoch)", (("lr", "lr"),)),
              (axes[1, 1], "training speed (images/s)", (("images_per_s", "images/s"),)))
    for ax, name, keys in panels:
        for key, label in keys:
            x, y = _series(history, key)
            ax.plot(x, y, marker="o", markersize=3, label=label)
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if len(keys) > 1:
            ax.legend()
    axes[0, 1].set_ylim(0, 1)
    fig.suptitle(title)
    fig.tight_layout()
    _save(fig, path)


def plot_precision_recall(curves: dict[str, tuple[np.ndarray, np.ndarray, str]], path: Path, title: str = "") -> None:
    """One panel per class: precision against recall. `curves`: class name -> (recall, precision, what
    the panel title says after the name, e.g. its AP), the arrays cumulative by decreasing score (empty
    when the class has no detection)."""
    n = max(1, len(curves))
    cols = min(4, n)
    rows = math.ceil(n / cols)
    plt = _pyplot()
    fig, axes = plt.subplots(rows, cols, figsize=(cols * PR_PANEL / DPI, rows * PR_PANEL / DPI + 0.4), dpi=DPI, squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    for ax, (name, (recall, precision, note)) in zip(axes.flat, curves.items()):
        ax.plot(recall, precision, drawstyle="steps-post")
        ax.set_title(f"{name}: {note}", fontsize=10)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    _save(fig, path)
