"""verify passes on good conversions and fails, naming the stage, on deliberately broken ones."""

import json
import re
import shutil

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import numpy_helper

from ssd2ncnn.cli import cli
from ssd2ncnn.ncnn_format import read_param, write_param
from ssd2ncnn.verify.parity import verify_checkpoint
from ssd2ncnn.verify.tolerances import FP32
from ssd2ncnn.verify.verify_images import synthetic_images

pytestmark = pytest.mark.slow  # converts, trains or runs processes: `pytest -m "not slow"` skips it


def _broken(converted, tmp_path, edit):
    ckpt, out = converted("voc300")
    bad = tmp_path / "bad"
    shutil.copytree(out, bad)
    graph = read_param(bad / "model.param")
    edit(graph)
    write_param(graph, bad / "model.param")
    return ckpt, bad


def _failures(ckpt, out):
    report = verify_checkpoint(ckpt, out, synthetic_images(1, seed=3), [300], FP32)
    assert not report.passed
    return report.failures()


def _swap_priorboxes(g):
    a, b = g.layer("priorbox1"), g.layer("priorbox2")
    a.params, b.params = b.params, a.params


def _wrong_variance(g):
    g.layer("priorbox0").params[5] = 0.1


def _wrong_permute(g):
    g.layer("loc0_perm").params[0] = 5  # (c, w, h) instead of (h, w, c)


def _softmax_wrong_axis(g):
    g.layer("mbox_conf_softmax").params = {0: 0}


@pytest.mark.parametrize(
    "edit, blob",
    [
        (_swap_priorboxes, "mbox_priorbox"),
        (_wrong_variance, "mbox_priorbox"),
        (_wrong_permute, "mbox_loc"),
        (_softmax_wrong_axis, "mbox_conf_flatten"),
    ],
)
def test_broken_patch_is_caught_at_the_patch_stage(converted, tmp_path, edit, blob):
    failures = _failures(*_broken(converted, tmp_path, edit))
    assert any(f"{blob} (patch stage)" in f for f in failures), failures
    assert not any("(pnnx stage)" in f or "(export stage)" in f for f in failures), failures


def test_corrupted_weights_are_caught_at_the_pnnx_stage(converted, tmp_path):
    ckpt, out = converted("voc300")
    bad = tmp_path / "bad"
    shutil.copytree(out, bad)
    data = bytearray((bad / "model.bin").read_bytes())
    weights = np.frombuffer(data, dtype=np.float32, count=(len(data) // 4))
    corrupt = weights.copy()
    corrupt[len(corrupt) // 2 : len(corrupt) // 2 + 4096] *= -2.0  # a run of weights in the middle of the net
    (bad / "model.bin").write_bytes(corrupt.tobytes() + bytes(data[len(corrupt) * 4 :]))
    failures = _failures(ckpt, bad)
    assert any("(pnnx stage)" in f for f in failures), failures
    assert not any("(export stage)" in f for f in failures), failures


def test_wrong_onnx_is_caught_at_the_export_stage(converted, tmp_path):
    ckpt, out = converted("voc300")
    bad = tmp_path / "bad"
    shutil.copytree(out, bad)
    model = onnx.load(str(bad / "model.onnx"))
    init = max(model.graph.initializer, key=lambda t: np.prod(t.dims))
    init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) * 1.5, init.name))
    onnx.save(model, str(bad / "model.onnx"))
    failures = _failures(ckpt, bad)
    assert any("(export stage)" in f for f in failures), failures


def test_verify_cli_exit_codes_and_report(converted, tmp_path):
    ckpt, out = converted("ssdlite320")
    report = tmp_path / "r.json"
    runner = CliRunner()
    res = runner.invoke(cli, ["verify", str(ckpt), str(out), "--sizes", "320,352", "--num-images", "1", "--report", str(report)])
    assert res.exit_code == 0, res.output
    assert "all checks within tolerance" in res.output

    data = json.loads(report.read_text())
    assert data["passed"] is True and data["sizes"] == [320, 352] and len(data["cases"]) == 2

    _, bad = _broken(converted, tmp_path, _softmax_wrong_axis)
    ckpt300, _ = converted("voc300")
    res = runner.invoke(cli, ["verify", str(ckpt300), str(bad), "--sizes", "300", "--num-images", "1", "--report", str(report)])
    assert res.exit_code == 1 and isinstance(res.exception, SystemExit), res.exception
    assert "check(s) out of tolerance" in res.output
    # the report blames the tensor the edit broke, at the stage that made it, and nothing upstream
    failed = {(t["name"], t["stage"]) for c in json.loads(report.read_text())["cases"] for t in c["tensors"] if not t["passed"]}
    assert ("mbox_conf_flatten", "patch") in failed, failed
    assert not {stage for _, stage in failed} & {"export", "pnnx"}, failed
    data = json.loads(report.read_text())  # a failed run writes its report too: that is when it is read
    assert data["passed"] is False and data["failures"]

    # only the detection check fails (every detection matched, scores off by more than 1e-12): its verdict must serialise as well
    report2 = tmp_path / "r2.json"
    res = runner.invoke(cli, ["verify", str(ckpt), str(out), "--sizes", "320", "--num-images", "1",
                              "--tol", "score_atol=1e-12", "--report", str(report2)])
    assert res.exit_code == 1 and isinstance(res.exception, SystemExit), (res.output, res.exception)
    data = json.loads(report2.read_text())
    assert data["passed"] is False and data["cases"][0]["detections"]["passed"] is False

    res = runner.invoke(cli, ["verify", str(ckpt), str(out), "--tol", "bogus=1"])
    assert res.exit_code == 2 and "unknown tolerance" in res.output


def test_images_report_the_pipeline_difference_apart_from_parity(tmp_path):
    """The trained fixture on held-out synthetic shapes: parity (identical tensors) passes, and the
    pipeline difference (Pillow-resized PyTorch vs ncnn-resized ncnn) is reported as detections and mAP."""
    from ssd2ncnn.assets import DEMO_CHECKPOINT as DEFAULT_CHECKPOINT
    from ssd2ncnn.converter.convert import convert_model
    from ssd2ncnn.data.synthetic import write_synthetic_voc

    data = write_synthetic_voc(tmp_path / "shapes", 12, seed=4242, size_range=(128, 160), object_range=(0.25, 0.6),
                               max_objects=3, p_difficult=0.0, splits={"test": 1.0})
    from ssd2ncnn.checkpoint import load_model

    convert_model(load_model(DEFAULT_CHECKPOINT), tmp_path / "out")
    report_path = tmp_path / "r.json"
    res = CliRunner().invoke(cli, ["verify", str(DEFAULT_CHECKPOINT), str(tmp_path / "out"), "--images", str(data),
                                   "--sizes", "128", "--report", str(report_path)])
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "pipeline difference (not parity)" in text and "mAP@128 (VOC07, 12 images)" in text
    assert "fails only when ncnn is lower" in text

    pipe = json.loads(report_path.read_text())["pipeline"]["128"]
    assert pipe["images"] == 12 and pipe["ncnn_count"] > 0 and pipe["torch_count"] > 0 and pipe["matched"] > 0
    assert 0.5 < pipe["map_ncnn"] <= 1 and 0.5 < pipe["map_torch"] <= 1 and pipe["map_margin"] >= FP32.map_atol

    # the set is scanned before any work (data.scan): a box far past the border is a warning, and with
    # --strict a one-line error before anything runs
    xml = sorted((data / "Annotations").glob("*.xml"))[0]
    text = xml.read_text()
    start = text.index("<xmax>") + len("<xmax>")
    xml.write_text(text[:start] + "5000" + text[text.index("</xmax>"):])
    res = CliRunner().invoke(cli, ["verify", str(DEFAULT_CHECKPOINT), str(tmp_path / "out"), "--images", str(data),
                                   "--sizes", "128", "--strict"])
    assert res.exit_code == 2 and "past the image border" in res.output and "--strict" in res.output, res.output


def _gt(boxes, labels):
    return {"boxes": np.asarray(boxes, float), "labels": np.asarray(labels), "difficult": np.zeros(len(labels), bool)}


def test_the_map_gate_is_one_sided_and_sized_to_the_set():
    from ssd2ncnn.verify.pipeline import pipeline_difference
    from ssd2ncnn.verify.verify_images import VerifyImage

    rng = np.random.default_rng(0)
    images, perfect, poor = [], [], []
    for k in range(40):
        box = np.sort(rng.uniform(0, 1, (2, 2)), axis=0).T.reshape(-1)[[0, 2, 1, 3]]
        images.append(VerifyImage(f"im{k}", None, _gt([box], [1])))  # type: ignore[arg-type]
        perfect.append(np.array([[1, 0.9, *box]]))
        poor.append(np.array([[1, 0.9, *box]]) if k % 2 else np.zeros((0, 6)))  # misses half the objects
    better = pipeline_difference(160, images, perfect, poor, 2, FP32)  # ncnn better than PyTorch: passes
    assert better.map_ncnn > better.map_torch and not better.map_failed
    worse = pipeline_difference(160, images, poor, perfect, 2, FP32)
    assert worse.map_failed and worse.map_margin > FP32.map_atol  # bootstrap margin, 40 images
    same = pipeline_difference(160, images, perfect, perfect, 2, FP32)
    assert not same.map_failed and same.matched == 40 and same.max_box_diff_px == 0
    one = pipeline_difference(160, images[:1], poor[:1], perfect[:1], 2, FP32)  # no spread to size a margin
    assert one.map_ncnn == 0 and one.map_torch == pytest.approx(1) and not one.map_failed
    assert json.loads(json.dumps(one.as_dict(), allow_nan=False))["map_margin"] is None  # strict JSON


def test_checkpoint_that_does_not_match_the_folder_is_bad_input(converted):
    ckpt300, _ = converted("voc300")
    _, out320 = converted("ssdlite320")
    res = CliRunner().invoke(cli, ["verify", str(ckpt300), str(out320), "--sizes", "320", "--num-images", "1"])
    assert res.exit_code == 2
    assert "config differs" in res.output and "Traceback" not in res.output


# --- tie-aware detection check on real conversions ---------------------------------------------------------


def _biased_model(preset: str, seed: int):
    """The issue's recipe: a fresh `init` model with random head biases, so scores are not all tied but
    neighbouring priors still are (the near-ties that made verify fail correct conversions)."""
    import torch

    from ssd2ncnn.config import get_preset
    from ssd2ncnn.model.factory import build_model
    from ssd2ncnn.model.ssdlite import head_conv

    torch.manual_seed(seed)
    model = build_model(get_preset(preset, num_classes=6, width_mult=0.25)).eval()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for head in [*model.conf_heads, *model.loc_heads]:
            head_conv(head).bias.add_(torch.randn(head_conv(head).bias.shape, generator=gen))
    return model


@pytest.fixture(scope="module")
def quarter_models(tmp_path_factory):
    """(kind, preset) -> (checkpoint, OUT) for width-0.25 random+bias and spread models."""
    from conftest import make_model

    from ssd2ncnn.checkpoint import save_checkpoint
    from ssd2ncnn.converter.convert import convert_model

    cache: dict = {}

    def build(kind: str, preset: str):
        if (kind, preset) not in cache:
            root = tmp_path_factory.mktemp(f"{kind}-{preset}")
            model = _biased_model(preset, 5) if kind == "biased" else make_model(preset, width=0.25, seed=5)
            convert_model(model, root / "out")
            cache[kind, preset] = (save_checkpoint(root / "model.pth", model), root / "out")
        return cache[kind, preset]

    return build


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["biased", "spread"])
@pytest.mark.parametrize("preset", ["voc300", "ssdlite320"])
def test_correct_conversions_pass_at_three_sizes(quarter_models, kind, preset):
    ckpt, out = quarter_models(kind, preset)
    report = verify_checkpoint(ckpt, out, synthetic_images(2, seed=5), [128, 160, 224], FP32)
    assert report.passed, report.failures()[:3]
    dets = [c.detections for c in report.cases]
    assert all(d.compared > 0 for d in dets)  # every case compared detections
    assert sum(d.matched for d in dets) > 0


def _detection_output(g):
    return next(layer for layer in g.layers if layer.type == "DetectionOutput")


def _nms_lower(g):
    _detection_output(g).params[1] = 0.3


def _nms_higher(g):
    _detection_output(g).params[1] = 0.65


def _priorbox_offset(g):
    g.layer("priorbox1").params[13] = 0.25


def _concat_order(g):
    concat = g.layer("mbox_loc")
    concat.inputs[0], concat.inputs[1] = concat.inputs[1], concat.inputs[0]


@pytest.mark.slow
@pytest.mark.parametrize(
    "edit, where",
    [
        (_nms_lower, "detection_out"),
        (_nms_higher, "detection_out"),
        (_priorbox_offset, "mbox_priorbox (patch stage)"),
        (_concat_order, "mbox_loc (patch stage)"),
    ],
)
def test_edited_models_fail(quarter_models, tmp_path, edit, where):
    ckpt, out = quarter_models("spread", "voc300")
    bad = tmp_path / "bad"
    shutil.copytree(out, bad)
    graph = read_param(bad / "model.param")
    edit(graph)
    write_param(graph, bad / "model.param")
    report = verify_checkpoint(ckpt, bad, synthetic_images(2, seed=5), [160, 224], FP32)
    failures = report.failures()
    assert not report.passed and any(where in f for f in failures), failures[:3]
    if where == "detection_out":  # the tensors are right: only the detection check can see an NMS edit
        assert all("detection_out" in f for f in failures), failures[:3]
        assert any("overlapping IoU" in f or "ncnn drops" in f or "ncnn keeps" in f for f in failures), failures[:3]


@pytest.mark.slow
def test_nothing_to_compare_is_said_and_compared_at_a_lowered_threshold(tmp_path):
    """A model whose scores never pass its own threshold: both sides detect nothing, so each case is
    compared again with DetectionOutput's threshold lowered in a copy of the .param, and the output says so."""
    from dataclasses import replace

    from conftest import make_model

    from ssd2ncnn.checkpoint import save_checkpoint
    from ssd2ncnn.converter.convert import convert_model

    model = make_model("voc300", width=0.25, seed=2)
    model.cfg = replace(model.cfg, conf_threshold=0.999)
    convert_model(model, tmp_path / "out")
    ckpt = save_checkpoint(tmp_path / "model.pth", model)
    res = CliRunner().invoke(cli, ["verify", str(ckpt), str(tmp_path / "out"), "--sizes", "160", "--num-images", "2"])
    assert res.exit_code == 0, res.output
    assert "2 case(s) had no detection above the threshold on either side" in res.output
    assert "compared at a lowered threshold" in res.output
    report = verify_checkpoint(ckpt, tmp_path / "out", synthetic_images(2), [160], FP32)
    for case in report.cases:
        assert len(case.ncnn_dets) == 0 and len(case.torch_dets) == 0
        assert case.detections.compared > 0 and case.detections.threshold < 0.999


@pytest.mark.slow
def test_the_output_says_what_was_excused(quarter_models):
    ckpt, out = quarter_models("biased", "ssdlite320")
    res = CliRunner().invoke(cli, ["verify", str(ckpt), str(out), "--sizes", "160,224", "--num-images", "2"])
    assert res.exit_code == 0, res.output
    assert "matched" in res.output and "all checks within tolerance" in res.output
    text = " ".join(res.output.split())  # rich wraps long lines
    # this seeded model has near-tied neighbouring priors: some rows differ, and each is accounted for
    assert re.search(r"detections: \d+ matched, [1-9]\d* only in ncnn", text), text
    assert "excused as near-ties" in text and "not explained: 0" in text
