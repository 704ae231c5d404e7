"""`bench` as a library: plan the run (`plan_bench`), then for each (size, threads) configuration build
the engines (`engine_specs`), time them in one process in rotating blocks (`time_config`, with the
structure comparison against the seed graph), probe peak memory in subprocesses (`add_memory`), and
return one JSON-able dict."""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..assets import reference_param
from ..errors import InputError
from ..modelfolder import ONNX, ModelInfo, read_info
from .memory import probe
from .runner import effective_block, ratio_summary, summarize, time_blocks
from .seed_comparison import prepare_structure, structure_specs
from .specs import build_engine


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def machine_info() -> dict:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (None, None, None)
    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "loadavg": list(load)}


@dataclass
class BenchPlan:
    """The checked inputs of one bench run: what to time, at which sizes and thread counts, and why any
    engine or comparison is left out (`skipped`, reported as is)."""

    out_dir: Path
    info: ModelInfo
    threads: list[int]
    sizes: list[int]
    runs: int
    block: int
    warmup: int
    pause_s: float
    options: dict
    also: dict[Path, ModelInfo]  # other model folders to time beside this one -> their model.json
    has_onnx: bool
    checkpoint: Path | None
    seed_param: Path | None
    net_only: bool
    load: dict[str, Any] = field(default_factory=dict)  # how to read the checkpoint (--from, --preset, ...)
    skipped: dict[str, str] = field(default_factory=dict)
    structure: dict[str, Any] = field(default_factory=dict)  # what the seed comparison runs (seed_comparison.py)

    @property
    def common(self) -> dict[str, Any]:
        return {"out_dir": str(self.out_dir), "info": self.info.to_dict(), "options": self.options}


def plan_bench(out_dir: Path, threads: list[int], sizes: list[int] | None, runs: int, checkpoint: Path | None,
               also: list[Path] | None, seed_param: Path | None | bool, options: dict | None, net_only: bool,
               block: int, warmup: int, pause_s: float, load: dict[str, Any] | None = None) -> BenchPlan:
    out_dir = Path(out_dir)
    info = read_info(out_dir)
    if runs < 1:
        raise InputError(f"--runs must be >= 1, got {runs}")
    if checkpoint is not None and not Path(checkpoint).is_file():
        raise InputError(f"--checkpoint {checkpoint} does not exist")
    if checkpoint is not None and not torch_available():
        raise InputError("--checkpoint times PyTorch, which is not installed; install torch or drop --checkpoint")
    if checkpoint is not None:  # read (config checked, weights fitted) now: a bad one fails before any timing
        from ..checkpoint import load_model

        load_model(checkpoint, **(load or {}))
    plan = BenchPlan(
        out_dir=out_dir, info=info, threads=threads, sizes=sizes or [info.input_size], runs=runs,
        block=block, warmup=warmup, pause_s=pause_s,
        options=dict(info.ncnn_options) if options is None else dict(options),
        also={Path(a): read_info(Path(a)) for a in (also or [])}, has_onnx=(out_dir / ONNX).is_file(),
        checkpoint=checkpoint, seed_param=None, net_only=net_only,
        load={k: (str(v) if isinstance(v, Path) else v) for k, v in (load or {}).items()},  # JSON for the probes
    )
    if checkpoint is None:
        plan.skipped["torch"] = "no --checkpoint given (the checkpoint is not in the model folder)"
    if not plan.has_onnx:
        plan.skipped["onnxruntime"] = f"{out_dir}/{ONNX} missing"
    elif not torch_available():
        # the ncnn engines need ncnn, numpy and Pillow only; onnxruntime's post-processing is PyTorch's
        plan.has_onnx = False
        plan.skipped["onnxruntime"] = "torch is not installed (the reference post-processing after onnxruntime needs it)"
    if seed_param is False:
        plan.skipped["structure"] = "disabled"
    elif info.int8:
        plan.skipped["structure"] = "the model folder is int8; the structure comparison uses an fp32 graph"
    else:
        plan.seed_param = Path(seed_param) if isinstance(seed_param, str | Path) else reference_param()
        if not plan.seed_param.is_file():
            raise InputError(f"seed graph {plan.seed_param} does not exist; pass an ncnn .param file")
        plan.structure = prepare_structure(info, out_dir, checkpoint, plan.seed_param, plan.load)
    return plan


def engine_specs(plan: BenchPlan, size: int, threads: int) -> list[dict[str, Any]]:
    """What is timed side by side at one (size, threads): our ncnn model, the --also folders, onnxruntime
    and PyTorch when available, and the network alone (no post-processing) in ncnn and onnxruntime."""
    at = {"size": size, "threads": threads}
    specs: list[dict[str, Any]] = [dict(plan.common, kind="ncnn", name="ncnn", **at)]
    for folder, info in plan.also.items():
        specs.append({"kind": "ncnn", "name": f"ncnn:{folder.name}", "out_dir": str(folder), "info": info.to_dict(),
                      "options": plan.options, **at})
    if plan.has_onnx:
        specs.append(dict(plan.common, kind="onnxruntime", name="onnxruntime", **at))
    if plan.checkpoint is not None:
        specs.append(dict(plan.common, kind="torch", name="torch", checkpoint=str(plan.checkpoint), load=plan.load, **at))
    if plan.net_only:
        specs.append(dict(plan.common, kind="ncnn-net", name="ncnn-net", **at))
        if plan.has_onnx:
            specs.append(dict(plan.common, kind="onnxruntime-net", name="onnxruntime-net", **at))
    return specs


def _time_specs(plan: BenchPlan, specs: list[dict[str, Any]]) -> dict[str, list[float]]:
    engines = [build_engine(s) for s in specs]
    samples = time_blocks(engines, plan.runs, plan.block, plan.warmup, plan.pause_s)
    del engines  # free the nets before the next configuration builds its own
    return samples


def compare_structure(plan: BenchPlan, size: int, threads: int) -> dict[str, Any]:
    """Our graph against the seed model's hand-edited one: with the same weights for a seed-architecture
    model given its checkpoint (the same network, hand-edited against generated), else both with zero
    weights (what the graph's layers cost, apart from the weights)."""
    ours, seed = structure_specs(plan.common, plan.out_dir, plan.structure, size, threads)
    samples = _time_specs(plan, [ours, seed])
    spread = ratio_summary(samples[seed["name"]], samples[ours["name"]], effective_block(plan.block, plan.runs))
    info: dict[str, Any] = {k: plan.structure[k] for k in ("weights", "layers", "weights_note") if k in plan.structure}
    return {"seed_param": str(plan.seed_param), **info, **{n: summarize(v) for n, v in samples.items()},
            "seed_over_ours": spread["ratio"] if spread else None, "seed_over_ours_spread": spread}


def time_config(plan: BenchPlan, specs: list[dict[str, Any]], size: int, threads: int) -> dict[str, Any]:
    """One configuration's timings, the speed ratios between engines, and the structure comparison."""
    t0 = time.perf_counter()
    samples = _time_specs(plan, specs)
    structure = compare_structure(plan, size, threads) if plan.seed_param is not None else None
    pairs = [("ncnn", "onnxruntime"), ("ncnn", "torch"), ("ncnn-net", "onnxruntime-net")]
    pairs += [("ncnn", f"ncnn:{folder.name}") for folder in plan.also]
    block = effective_block(plan.block, plan.runs)
    spreads = {f"{a}/{b}": ratio_summary(samples.get(a, []), samples.get(b, []), block) for a, b in pairs}
    return {"size": size, "threads": threads, "engines": {n: summarize(v) for n, v in samples.items()},
            "ratios": {k: (v["ratio"] if v else None) for k, v in spreads.items()}, "ratio_spreads": spreads,
            "structure": structure, "seconds": time.perf_counter() - t0}


def add_memory(configs: list[dict[str, Any]], specs: list[dict[str, Any]], size: int, threads: int) -> None:
    """Peak memory of each engine at `size` (one subprocess each, at `threads`), added to every
    configuration of that size. The spec keeps its metadata so the child does not re-read model.json."""
    mem = {s["name"]: probe(dict(s, threads=threads, runs=5)) for s in specs}
    for c in configs:
        if c["size"] != size:
            continue
        for name, m in mem.items():
            if name in c["engines"]:
                c["engines"][name]["peak_rss_delta_mb"] = m.get("delta_mb")
                if "error" in m:
                    c["engines"][name]["memory_error"] = m["error"]


def run_bench(
    out_dir: Path,
    threads: list[int],
    sizes: list[int] | None = None,
    runs: int = 30,
    checkpoint: Path | None = None,
    also: list[Path] | None = None,
    seed_param: Path | None | bool = None,
    options: dict | None = None,
    memory: bool = True,
    net_only: bool = True,
    block: int = 5,
    warmup: int = 3,
    pause_s: float = 0.15,
    log=None,
    load: dict[str, Any] | None = None,
) -> dict:
    """Everything `ssd2ncnn bench` reports, as a dict (see docs/tuning.md for the keys). `seed_param`:
    the graph to compare structure against (default: the shipped seed reference), or False to skip it.
    `load`: how to read `checkpoint` (`checkpoint.load_model`'s keywords: source, preset, num_classes, ...)."""
    plan = plan_bench(out_dir, threads, sizes, runs, checkpoint, also, seed_param, options, net_only,
                      block, warmup, pause_s, load)
    result = _report_header(plan)
    for size in plan.sizes:
        for t in plan.threads:
            specs = engine_specs(plan, size, t)
            if log:
                log(f"size {size}, {t} thread(s): {', '.join(s['name'] for s in specs)}")
            result["configs"].append(time_config(plan, specs, size, t))
        if memory:
            add_memory(result["configs"], engine_specs(plan, size, plan.threads[0]), size, plan.threads[0])
    result["machine_after"] = machine_info()
    return result


def _report_header(plan: BenchPlan) -> dict[str, Any]:
    config = plan.info.config
    return {
        "format": "ssd2ncnn-bench", "version": 1,
        "model": {"dir": str(plan.out_dir), "input_size": plan.info.input_size,
                  "int8": plan.info.int8, "width_mult": config.width_mult,
                  "preset": config.preset},
        "settings": {"runs": plan.runs, "block": plan.block, "warmup": plan.warmup, "pause_s": plan.pause_s,
                     "ncnn_options": plan.options, "threads": plan.threads, "sizes": plan.sizes,
                     "input": "synthetic picture, model pre-processing"},
        "machine_before": machine_info(),
        "skipped": plan.skipped,
        "configs": [],
    }
