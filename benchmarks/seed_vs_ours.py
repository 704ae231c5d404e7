"""The seed model against the seed's own deployed graph: parity of our conversion with the hand-edited
`.param` (given a `.bin` from the same weights) at 300 px, then bench's "seed graph vs ours" on the same
network and weights (median of several runs, ncnn end to end to `detection_out`).

    PYTHONPATH=. python benchmarks/seed_vs_ours.py [--checkpoint seed_epoch_25.pth] [--images 8] [--runs 30] [--threads 1,2]

Without --checkpoint it writes a full-width seed checkpoint in the mmdetection v1 layout with seeded
spread weights (not trained: the released file cannot be downloaded here). Timings are wall-clock on
whatever else the machine is doing; nothing here is a pass/fail test."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ssd2ncnn.assets import reference_param  # noqa: E402
from ssd2ncnn.bench.suite import run_bench  # noqa: E402
from ssd2ncnn.checkpoint import load_model  # noqa: E402
from ssd2ncnn.commands.list_option import IntList  # noqa: E402
from ssd2ncnn.config import get_preset  # noqa: E402
from ssd2ncnn.converter.convert import convert_model  # noqa: E402
from ssd2ncnn.importers.mmdet_seed import seed_layout  # noqa: E402
from ssd2ncnn.model.seed_mobilenetv3 import SeedSSD  # noqa: E402
from ssd2ncnn.model.spread_init import spread_init  # noqa: E402
from ssd2ncnn.verify.seed_param_parity import seed_parity, write_seed_model  # noqa: E402
from ssd2ncnn.verify.verify_images import synthetic_images  # noqa: E402

DEPLOYED_RATIOS = ((2.0,), (2.0, 3.0), (2.0, 3.0), (2.0, 3.0), (2.0,), (2.0,))


def spread_seed_checkpoint(path: Path, seed: int = 0) -> Path:
    from dataclasses import replace

    cfg = replace(get_preset("voc300", arch="seed"), aspect_ratios=DEPLOYED_RATIOS)
    torch.manual_seed(seed)
    model = spread_init(SeedSSD(cfg), seed)
    torch.save({"meta": {"note": "spread init, not trained"}, "state_dict": seed_layout(model)}, path)  # type: ignore[arg-type]
    return path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", type=Path, default=None, help="A seed mmdetection checkpoint (default: a spread one).")
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--threads", default="1,2")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="seed-bench-") as tmp:
        root = Path(tmp)
        ckpt = args.checkpoint or spread_seed_checkpoint(root / "seed.pth")
        model = load_model(ckpt)
        if not isinstance(model, SeedSSD):  # the seed graph holds only the seed's network
            ap.error(f"{ckpt} is a {model.cfg.arch} model, not the seed architecture")
        res = convert_model(model, root / "out")
        param, weights = write_seed_model(model, reference_param(), root / "seed")
        print(f"ours: {res.layer_count} layers; seed graph: {reference_param().name}")
        cases = seed_parity(model, root / "out", param, weights, synthetic_images(args.images, seed=2026), sizes=(300,))
        worst: dict[str, float] = {}
        for c in cases:
            for t in c.tensors:
                worst[t.name] = max(worst.get(t.name, 0.0), t.max_abs)
            d = c.detections
            print(f"{c.image}@{c.size}: {'pass' if c.passed else 'FAIL'}; detections matched {d.matched}, only ours "
                  f"{d.unmatched_ncnn}, only seed {d.unmatched_ref}, ties excused {d.excused['nms tie']}, score err {d.max_score_err:.2g}, "
                  f"box err {d.max_box_err:.2g}; priors bit-identical {c.priors_identical}")
        print("max abs error over all images: " + ", ".join(f"{k} {v:.3g}" for k, v in worst.items()))
        print(f"{sum(c.passed for c in cases)}/{len(cases)} images pass")
        result = run_bench(root / "out", list(IntList().convert(args.threads, None, None)), [300], args.runs, checkpoint=ckpt,
                           seed_param=reference_param(), memory=False, net_only=False)
        for c in result["configs"]:
            st = c["structure"]
            names = [k for k, v in st.items() if isinstance(v, dict) and "median_ms" in v]
            meds = ", ".join(f"{n} median {st[n]['median_ms']:.1f} ms" for n in names)
            sp = st["seed_over_ours_spread"]
            print(f"300 px, {c['threads']} thread(s), {st['weights']} weights, layers {st['layers']}: {meds}; "
                  f"seed/ours {sp['ratio']:.2f} [per-round {sp['round_low']:.2f}-{sp['round_high']:.2f}]")
        print(f"load average before {result['machine_before']['loadavg']}, after {result['machine_after']['loadavg']}")


if __name__ == "__main__":
    main()
