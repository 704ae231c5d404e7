"""Activation scales for int8 from calibration images.

For every Convolution/ConvolutionDepthWise the input blob is collected by running the fp32 ncnn model
(the very graph that gets quantized, so the statistics are of the blobs the int8 layers will see) on each
image, pre-processed as model.json says. Then one threshold T per layer and scale = 127 / T:

* `maxabs` (default): T = max|x| over all images. Never clips; robust with few images. On the models
  measured here (docs/int8.md) it gave the best parity.
* `kl` (ncnn2table's default): a 2048-bin histogram of |x| over [0, max|x|]
  (second pass over the images, max from the first); T is the clipping point whose 128-level quantized
  distribution has the least KL divergence from the clipped reference. It clips rare outliers (the
  long tails after ReLU6/HardSwish and in the SE blocks) and spends the 127 levels where the mass is.
  Measured poor here: the SE blocks' pooled vectors give only C values per image, so their histograms
  are sparse and the KL minimum lands on noise (mbox_loc correlation 0.55-0.63 vs 0.99 for maxabs).
* `percentile`: T = the given percentile of |x| (from the same histogram).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..ncnn_format import Graph
from ..ncnn_format.ids import CONV_TYPES

NUM_BINS = 2048
NUM_LEVELS = 128
METHODS = ("kl", "maxabs", "percentile")


def conv_bottoms(graph: Graph) -> dict[str, str]:
    """{conv layer name: its input blob name}."""
    return {ly.name: ly.inputs[0] for ly in graph.layers if ly.type in CONV_TYPES}


def kl_threshold(hist: np.ndarray, absmax: float) -> float:
    """The clipping threshold minimising KL(reference || quantized) over bins 128..2047 of `hist`."""
    hist = hist.astype(np.float64)
    n = hist.size
    if absmax <= 0 or hist.sum() == 0:
        return float(absmax) if absmax > 0 else 1.0
    interval = absmax / n
    best_i, best_kl = n, np.inf
    tail = np.cumsum(hist[::-1])[::-1]  # tail[i] = sum(hist[i:])
    for i in range(NUM_LEVELS, n):
        ref = hist[:i].copy()
        if i < n:
            ref[i - 1] += tail[i] if i < n else 0.0
        src = hist[:i]
        idx = (np.arange(i) * NUM_LEVELS) // i
        merged = np.bincount(idx, weights=src, minlength=NUM_LEVELS)
        nonzero = np.bincount(idx, weights=(src != 0).astype(np.float64), minlength=NUM_LEVELS)
        q = np.where(src != 0, merged[idx] / np.maximum(nonzero[idx], 1.0), 0.0)
        ps, qs = ref.sum(), q.sum()
        if qs == 0:
            continue
        p = ref / ps
        q = q / qs
        mask = p > 0
        # a reference bin with mass where the quantized one has none: smooth q instead of infinity
        qm = np.where(q[mask] > 0, q[mask], 1e-10)
        kl = float(np.sum(p[mask] * np.log(p[mask] / qm)))
        if kl < best_kl:
            best_kl, best_i = kl, i
    return (best_i + 0.5) * interval


def calibrate(
    param: Path,
    bin_path: Path,
    graph: Graph,
    inputs: list[np.ndarray],
    method: str = "maxabs",
    percentile: float = 99.99,
    input_blob: str = "input",
    layers: list[str] | None = None,
    log: Callable[[str], None] | None = None,
) -> tuple[dict[str, float], dict[str, dict]]:
    """Per conv layer: (bottom scales {layer: 127 / T}, stats {layer: {absmax, threshold}})."""
    from ..modelfolder import CALIBRATION_OPTIONS
    from ..runtime.net import load_net, run_net

    if method not in METHODS:
        raise ValueError(method)
    bottoms = conv_bottoms(graph)
    if layers is not None:
        bottoms = {k: v for k, v in bottoms.items() if k in layers}
    blobs = sorted(set(bottoms.values()))
    net = load_net(Path(param), Path(bin_path), CALIBRATION_OPTIONS, num_threads=2)
    absmax = dict.fromkeys(blobs, 0.0)
    for k, x in enumerate(inputs):
        for b, a in run_net(net, x, blobs, input_blob).items():
            absmax[b] = max(absmax[b], float(np.abs(a).max()) if a.size else 0.0)
        if log and (k + 1) % 10 == 0:
            log(f"  pass 1: {k + 1}/{len(inputs)} images")
    thresholds = dict(absmax)
    if method != "maxabs":
        hists = {b: np.zeros(NUM_BINS, dtype=np.int64) for b in blobs}
        for k, x in enumerate(inputs):
            for b, a in run_net(net, x, blobs, input_blob).items():
                if absmax[b] > 0:
                    hists[b] += np.histogram(np.abs(a), bins=NUM_BINS, range=(0.0, absmax[b]))[0]
            if log and (k + 1) % 10 == 0:
                log(f"  pass 2: {k + 1}/{len(inputs)} images")
        for b in blobs:
            if absmax[b] <= 0:
                continue
            if method == "kl":
                thresholds[b] = kl_threshold(hists[b], absmax[b])
            else:
                c = np.cumsum(hists[b]) / max(hists[b].sum(), 1)
                i = int(np.searchsorted(c, percentile / 100.0))
                thresholds[b] = (min(i, NUM_BINS - 1) + 1) * absmax[b] / NUM_BINS
    scales, stats = {}, {}
    for layer, b in bottoms.items():
        t = thresholds[b] if thresholds[b] > 0 else 1.0
        scales[layer] = 127.0 / t
        stats[layer] = {"blob": b, "absmax": absmax[b], "threshold": t}
    return scales, stats
