"""verify/verdict.py: the verdict, the summary lines and the JSON of a report assembled by hand from
cases, pipelines and bad files, so each line can be written out in full (survivors of scripts/mutation.sh:
only slow tests reached this module)."""

from __future__ import annotations

import numpy as np

from ssd2ncnn.verify.case import CaseResult
from ssd2ncnn.verify.compare import TensorCheck
from ssd2ncnn.verify.detections import DetectionCheck
from ssd2ncnn.verify.pipeline import PipelineDiff
from ssd2ncnn.verify.tolerances import FP32
from ssd2ncnn.verify.verdict import VerifyReport

NO_ROWS = np.zeros((0, 6), np.float32)


def _dets(matched=0, only_ncnn=0, only_ref=0, passed=True, inconclusive=""):
    return DetectionCheck(matched, only_ncnn, only_ref, {}, [], 1e-5, 0.0, 0.0, passed, inconclusive=inconclusive)


def _case(image, size, dets, tensors_ok=(True,)):
    tensors = [TensorCheck(f"t{i}", "patch", 0.0 if ok else 2.0, 0.0, 1.0, ok) for i, ok in enumerate(tensors_ok)]
    return CaseResult(image, size, tensors, dets, NO_ROWS, NO_ROWS)


def _pipe(size, map_ncnn=None, map_torch=None, margin=None, images=8):
    return PipelineDiff(size, images, 0, 0, 0, 0.0, 0.0, map_ncnn, map_torch, margin)


def test_a_passing_report_says_so_and_counts_the_detections():
    report = VerifyReport([_case("a.jpg", 300, _dets(3, 1, 0)), _case("b.jpg", 320, _dets(2, 0, 4))], FP32, [300, 320])
    assert report.passed and report.failures() == [] and report.inconclusive == []
    assert report.summary() == ("passed: 2 case(s) at sizes 300, 320; 0 check(s) out of tolerance\n"
                                "detections: 5 matched, 1 only in ncnn, 4 only in PyTorch")


def test_one_failing_case_fails_the_report_and_the_summary_shows_five_failures():
    bad = _case("b.jpg", 300, _dets(1), tensors_ok=(False,) * 7)
    report = VerifyReport([_case("a.jpg", 300, _dets(1)), bad], FP32, [300])
    assert not report.passed and len(report.failures()) == 7
    lines = report.summary().split("\n")
    assert lines[0] == "FAILED: 2 case(s) at sizes 300; 7 check(s) out of tolerance"
    assert lines[2:] == [f"b.jpg@300: t{i} (patch stage) max abs error 2 > 1" for i in range(5)]


def test_a_failed_detection_check_fails_the_report():
    report = VerifyReport([_case("a.jpg", 300, _dets(1, passed=False))], FP32, [300])
    assert not report.passed


def test_map_failures_are_the_pipelines_lower_by_more_than_their_margin():
    pipes = {300: _pipe(300, 0.70, 0.75, 2.0),  # 5 points below, margin 2: fails
             320: _pipe(320, 0.74, 0.75, 2.0),  # 1 point below: within the margin
             384: _pipe(384, 0.80, 0.75, 2.0),  # ncnn higher: the gate is one-sided
             416: _pipe(416)}  # not annotated: no mAP
    report = VerifyReport([_case("a.jpg", 300, _dets(1))], FP32, [300], pipelines=pipes)
    expected = ("mAP@300: ncnn's pipeline 70.00 is 5.00 points below PyTorch's 75.00, more than the margin 2.00 "
                "for 8 images")
    assert report.map_failures == [expected]
    assert report.failures() == [expected] and not report.passed
    assert report.summary().split("\n")[-1] == expected
    report.pipelines.pop(300)
    assert report.map_failures == [] and report.passed


def test_inconclusive_cases_say_their_verdict_rests_on_the_tensors():
    why = "nothing to compare: PyTorch scores no foreground class above 0"
    cases = [_case("a.jpg", 300, _dets(2)), _case("b.jpg", 320, _dets(inconclusive=why)),
             _case("c.jpg", 384, _dets(inconclusive="other"))]
    report = VerifyReport(cases, FP32, [300, 320, 384], bad_files=[("x.png", "not an image"), ("y.jpg", "too large")])
    assert report.passed and [c.image for c in report.inconclusive] == ["b.jpg", "c.jpg"]
    assert report.summary().split("\n")[2:] == [
        f"detections inconclusive in 2 case(s) (b.jpg@320: {why}); there the verdict rests on the tensor checks, "
        "which all pass",
        "cannot use x.png: not an image",
        "cannot use y.jpg: too large",
    ]
    cases[2].tensors[0] = TensorCheck("t0", "patch", 2.0, 0.0, 1.0, False)  # a tensor of the second one fails
    assert "rests on the tensor checks, which FAIL" in report.summary().split("\n")[2]


def test_to_dict_holds_the_verdict_failures_and_every_part():
    cases = [_case("a.jpg", 300, _dets(2)), _case("b.jpg", 320, _dets(inconclusive="why"), tensors_ok=(False,))]
    report = VerifyReport(cases, FP32, [300, 320], pipelines={300: _pipe(300, 0.5, 0.5, 1.0)},
                          bad_files=[("x.png", "not an image")])
    d = report.to_dict()
    assert list(d) == ["passed", "sizes", "tolerances", "failures", "inconclusive", "bad_files", "pipeline", "cases"]
    assert d["passed"] is False and d["sizes"] == [300, 320]
    assert d["tolerances"]["head_atol"] == 1e-4 and d["tolerances"]["head_rtol"] == 1e-4  # FP32's, by hand
    assert d["failures"] == ["b.jpg@320: t0 (patch stage) max abs error 2 > 1"]
    assert d["inconclusive"] == ["b.jpg@320: why"]
    assert d["bad_files"] == [{"file": "x.png", "error": "not an image"}]
    assert list(d["pipeline"]) == ["300"] and d["pipeline"]["300"]["map_ncnn"] == 0.5
    assert [c["image"] for c in d["cases"]] == ["a.jpg", "b.jpg"] and d["cases"][1]["passed"] is False
    assert report.as_dict() == d
