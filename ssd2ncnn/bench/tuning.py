"""The tuning benchmark: ncnn option sets and graph rewrites, timed end to end (input -> detection_out)
in one process in rotating blocks, each with its parity cost against the fp32 default options."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from ..data.synthetic import gradient_picture
from ..modelfolder import CONF_BLOB, DETECTION_BLOB, LOC_BLOB, PARITY_OPTIONS, read_info
from ..ncnn_format import read_param, write_param
from ..patches import passes
from ..runtime.net import load_net, run_net
from ..runtime.preprocess import ncnn_input
from .engines import ncnn_engine
from .runner import summarize, time_blocks

BASE = {**PARITY_OPTIONS, "use_fp16_packed": False}
VARIANTS: dict[str, dict] = {
    "fp32 default": {},
    "no packing": {"use_packing_layout": False},
    "fp16 storage": {"use_fp16_storage": True, "use_fp16_packed": True},
    "fp16 storage+arith": {"use_fp16_storage": True, "use_fp16_packed": True, "use_fp16_arithmetic": True},
    "bf16 storage": {"use_bf16_storage": True},
    "no winograd": {"use_winograd_convolution": False},
    "no sgemm": {"use_sgemm_convolution": False},
    "lightmode off": {"lightmode": False},
}
PARITY_BLOBS = (CONF_BLOB, LOC_BLOB, DETECTION_BLOB)


def _parity(ref: dict, got: dict) -> dict:
    conf = float(np.abs(ref[CONF_BLOB] - got[CONF_BLOB]).max())
    loc_scale = float(np.abs(ref[LOC_BLOB]).max()) or 1.0
    loc = float(np.abs(ref[LOC_BLOB] - got[LOC_BLOB]).max())
    da, db = ref[DETECTION_BLOB], got[DETECTION_BLOB]
    out = {"conf_max_abs": conf, "loc_max_abs": loc, "loc_max_rel": loc / loc_scale,
           "detections": [int(len(da)), int(len(db))]}
    k = min(len(da), len(db), 10)
    if k:
        out["top10_score_max_abs"] = float(np.abs(np.sort(da[:, 1])[::-1][:k] - np.sort(db[:, 1])[::-1][:k]).max())
        same = len(da) == len(db) and bool(np.all(da[:, 0] == db[:, 0]))
        out["box_max_abs"] = float(np.abs(da[:, 2:] - db[:, 2:]).max()) if same else None
    return out


def run_tuning(out_dir: Path, size: int, threads: int, runs: int = 20, int8_dir: Path | None = None,
               block: int = 5, warmup: int = 2, log=None) -> dict:
    out_dir = Path(out_dir)
    info = read_info(out_dir)
    x = ncnn_input(gradient_picture(size), size, info)
    with tempfile.TemporaryDirectory(prefix="ssd2ncnn-tune-") as tmp:
        entries = [(name, out_dir / "model.param", out_dir / "model.bin", dict(BASE, **o)) for name, o in VARIANTS.items()]
        changed = {}
        cfg = info.config
        for rewrite in (r for r in passes() if r.speed_only):  # convert applied them: re-measured on their own
            pname = rewrite.name
            g = read_param(out_dir / "model.param")
            changed[pname] = rewrite.run(g, cfg)
            if changed[pname]:
                variant_param = Path(tmp) / f"{pname}.param"
                write_param(g, variant_param)
                entries.append((f"graph {pname}", variant_param, out_dir / "model.bin", dict(BASE)))
        if int8_dir is not None:
            entries.append(("int8", Path(int8_dir) / "model.param", Path(int8_dir) / "model.bin", dict(BASE)))
        if log:
            log(f"tuning at {size} px, {threads} thread(s): {len(entries)} variants")
        ref = run_net(load_net(out_dir / "model.param", out_dir / "model.bin", BASE, threads), x, PARITY_BLOBS)
        parity, engines = {}, []
        for name, param, weights, opts in entries:
            try:
                got = run_net(load_net(param, weights, opts, threads), x, PARITY_BLOBS)
                parity[name] = _parity(ref, got)
            except Exception as exc:  # noqa: BLE001 - a variant ncnn rejects is a result, not a crash
                parity[name] = {"error": str(exc)}
                continue
            engines.append(ncnn_engine(name, param, weights, x, threads, opts))
        samples = time_blocks(engines, runs, block, warmup)
    stats = {n: summarize(v) for n, v in samples.items()}
    base = stats["fp32 default"]["median_ms"]
    variants = {n: {**stats[n], "speedup_vs_default": base / stats[n]["median_ms"], "parity": parity[n],
                    "options": dict(BASE, **VARIANTS.get(n, {}))} for n in stats}
    for n, p in parity.items():
        if n not in variants:
            variants[n] = {"parity": p}
    return {"size": size, "threads": threads, "runs": runs, "rewrites": changed, "variants": variants}
