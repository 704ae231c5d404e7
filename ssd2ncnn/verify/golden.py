"""Golden outputs: a fixture checkpoint is converted afresh and the ncnn outputs are compared with tensors
stored in the repo, so CI notices when a new pnnx, ncnn or patch changes the numbers.

A golden folder holds `model.pth`, `golden.npz` (the contract blobs per case), `golden.json` (sizes, seed,
image count, tool versions) and `COMMAND.txt` (how it was made). Goldens are rewritten only by the explicit
command `verify --golden DIR --update-golden` (`scripts/update_golden.sh`), never by a check: an
environment variable left set in a shell once turned the golden step of `scripts/test.sh` into a silent
regeneration that exited 0, so `SSD2NCNN_UPDATE_GOLDEN` is no longer read (`ignored_update_env` names it)."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..checkpoint import load_model
from ..converter.convert import convert_model, tool_versions
from ..errors import InputError
from ..modelfolder import (
    BIN,
    CONF_BLOB,
    CONTRACT_BLOBS,
    DETECTION_BLOB,
    LOC_BLOB,
    PARAM,
    PRIOR_BLOB,
    head_names,
    read_info,
)
from ..runtime.net import load_net, run_net
from .compare import TensorCheck, compare_tensor
from .detections import candidates_from_blobs, compare_detections
from .tolerances import Tolerances, logit_scale
from .verify_images import synthetic_images, training_input

UPDATE_ENV = "SSD2NCNN_UPDATE_GOLDEN"
LOGIT_SCALE = "conf_logit_scale"


def ignored_update_env() -> bool:
    """True when the retired variable is set, so the check can say that it only checks."""
    return os.environ.get(UPDATE_ENV, "") not in ("", "0")


def _cases(meta: dict):
    images = synthetic_images(int(meta["images"]), seed=int(meta["seed"]))
    for size in meta["sizes"]:
        for im in images:
            yield f"{im.name}@{size}", im, int(size)


def _run(golden: Path, meta: dict) -> dict[str, np.ndarray]:
    model = load_model(golden / "model.pth")
    with tempfile.TemporaryDirectory(prefix="ssd2ncnn-golden-") as tmp:
        out = Path(tmp) / "out"
        convert_model(model, out)
        info = read_info(out)
        net = load_net(out / PARAM, out / BIN, info.ncnn_options, num_threads=2)
        arrays = {}
        for key, im, size in _cases(meta):
            # the inputs the goldens were written with: the training resize (the net, not the resize, is checked)
            confs = head_names(model.cfg.num_levels)[model.cfg.num_levels:]
            blobs = run_net(net, training_input(im.load(), size, model.cfg), [*confs, *CONTRACT_BLOBS])  # heads first: light mode frees them
            arrays.update({f"{key}/{name}": blobs[name] for name in CONTRACT_BLOBS})
            # the largest |conf logit|, which the derived conf tolerance scales with (not stored)
            arrays[f"{key}/{LOGIT_SCALE}"] = np.asarray(logit_scale(blobs[c] for c in confs), np.float32)
    return arrays


def write_golden(golden: Path, sizes: list[int], images: int, seed: int, command: str) -> Path:
    golden = Path(golden)
    if not (golden / "model.pth").exists():
        raise InputError(f"{golden} has no model.pth: put the fixture checkpoint there first")
    meta = {"sizes": sizes, "images": images, "seed": seed, "tools": tool_versions()}
    arrays = _run(golden, meta)
    stored = {k: v for k, v in arrays.items() if not k.endswith(LOGIT_SCALE)}
    np.savez_compressed(golden / "golden.npz", **stored)  # type: ignore[arg-type]
    (golden / "golden.json").write_text(json.dumps(meta, indent=2) + "\n")
    (golden / "COMMAND.txt").write_text(command.strip() + "\n")
    return golden


@dataclass
class GoldenResult:
    checks: list[TensorCheck]
    failures: list[str]

    @property
    def passed(self) -> bool:
        return not self.failures


def check_golden(golden: Path, tol: Tolerances) -> GoldenResult:
    golden = Path(golden)
    for name in ("model.pth", "golden.npz", "golden.json"):
        if not (golden / name).exists():
            raise InputError(f"{golden} is not a golden folder (no {name}); create it with --update-golden")
    meta = json.loads((golden / "golden.json").read_text())
    cfg = load_model(golden / "model.pth").cfg
    stored = dict(np.load(golden / "golden.npz"))
    fresh = _run(golden, meta)
    checks, failures = [], []
    for key, _, _ in _cases(meta):
        case_tol = tol.for_case(cfg.score_activation, float(fresh[f"{key}/{LOGIT_SCALE}"]))
        limits = {LOC_BLOB: (tol.head_atol, tol.head_rtol), CONF_BLOB: (case_tol.conf_limit(), 0.0),
                  PRIOR_BLOB: (tol.prior_atol, 0.0)}
        for name, (atol, rtol) in limits.items():
            c = compare_tensor(f"{key}/{name}", "golden", fresh[f"{key}/{name}"], stored[f"{key}/{name}"], atol, rtol)
            checks.append(c)
            if not c.passed:
                failures.append(f"{c.name}: max abs error {c.max_abs:.3g} > {c.limit:.3g} against the golden tensor")
        # the stored tensors are the reference: their candidates judge any difference by replay
        cand = candidates_from_blobs(stored[f"{key}/{LOC_BLOB}"], stored[f"{key}/{CONF_BLOB}"], stored[f"{key}/{PRIOR_BLOB}"], cfg)
        conf_err = float(np.abs(fresh[f"{key}/{CONF_BLOB}"] - stored[f"{key}/{CONF_BLOB}"]).max())
        d = compare_detections(fresh[f"{key}/{DETECTION_BLOB}"], stored[f"{key}/{DETECTION_BLOB}"], cfg, case_tol, cand, conf_err)
        if not d.passed:
            failures.append(
                f"{key}/detection_out: {d.matched} matched, {d.unmatched_ncnn} new, {d.unmatched_ref} missing, "
                f"score error {d.max_score_err:.3g}, box error {d.max_box_err:.3g} against the golden detections"
                + (f": {d.unexplained[0]}" if d.unexplained else "")
            )
    return GoldenResult(checks, failures)
