"""`bench`'s "seed graph vs ours". For any model folder it times the seed's hand-edited `.param` against
ours with empty weights (two different networks: structure only). For a seed-architecture model
(`arch == "seed"`) with its `--checkpoint`, the seed graph gets a `.bin` from the same weights
(`verify/seed_param_parity.py`), so the comparison is the same network, hand-edited against generated, both
computing `detection_out` with the same DetectionOutput params."""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path

from ..errors import InputError
from ..modelfolder import ModelInfo
from ..ncnn_format import read_param

_KEEP: list[tempfile.TemporaryDirectory] = []  # the seed .bin lives as long as the process (engines reload it)


def layer_types(param: Path) -> Counter:
    return Counter(layer.type for layer in read_param(param).layers)


def prepare_structure(info: ModelInfo, out_dir: Path, checkpoint: Path | None, seed_param: Path,
                      load: dict | None = None) -> dict:
    """What the structure comparison runs: the seed graph with the same weights when it can, else empty."""
    ours_param = Path(out_dir) / "model.param"
    prep = {"seed_param": str(seed_param), "seed_bin": None, "weights": "empty",
            "layers": {"ours": sum(layer_types(ours_param).values()), "seed": sum(layer_types(Path(seed_param)).values())}}
    if info.config.arch != "seed" or checkpoint is None:
        return prep
    from ..checkpoint import load_model
    from ..model.seed_mobilenetv3 import SeedSSD
    from ..verify.parity import check_same_model
    from ..verify.seed_param_parity import write_seed_model

    model = load_model(checkpoint, **(load or {}))
    check_same_model(model, info, Path(out_dir))
    if not isinstance(model, SeedSSD):
        return prep
    tmp = tempfile.TemporaryDirectory(prefix="ssd2ncnn-seed-graph-")
    _KEEP.append(tmp)
    try:
        param, weights = write_seed_model(model, Path(seed_param), Path(tmp.name))
    except InputError as exc:  # e.g. a narrower seed model: the deployed graph is full width
        return prep | {"weights_note": f"the seed graph cannot hold this model's weights ({exc})"}
    return prep | {"seed_param": str(param), "seed_bin": str(weights), "weights": "same"}


def structure_specs(common: dict, out_dir: Path, prep: dict, size: int, threads: int) -> list[dict]:
    """[ours, seed] engine specs for `specs.build_engine`."""
    if prep["weights"] == "empty":
        return [dict(common, kind="ncnn-empty", name="ours-empty", param=str(Path(out_dir) / "model.param"), size=size, threads=threads),
                dict(common, kind="ncnn-empty", name="seed-empty", param=prep["seed_param"], size=size, threads=threads)]
    return [dict(common, kind="ncnn-files", name="ours-same-weights", param=str(Path(out_dir) / "model.param"),
                 bin=str(Path(out_dir) / "model.bin"), size=size, threads=threads),
            dict(common, kind="ncnn-files", name="seed-same-weights", param=prep["seed_param"], bin=prep["seed_bin"],
                 size=size, threads=threads)]
