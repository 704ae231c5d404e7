"""Human-readable verify output (rich tables); the JSON report is `VerifyReport.to_dict`."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from .detections import REASONS
from .pipeline import SHOWN_SCORE
from .verdict import VerifyReport


def print_detection_summary(report: VerifyReport, console: Console) -> None:
    """What the detection check compared and what it excused, so a pass reads as a pass."""
    dets = [c.detections for c in report.cases]
    matched = sum(d.matched for d in dets)
    un_n, un_r = sum(d.unmatched_ncnn for d in dets), sum(d.unmatched_ref for d in dets)
    excused = {r: sum(d.excused[r] for d in dets) for r in REASONS}
    tie = max((d.tie_tol for d in dets), default=0.0)
    console.print(
        f"detections: {matched} matched, {un_n} only in ncnn, {un_r} only in PyTorch, over {len(dets)} cases"
    )
    if un_n + un_r:
        said = ", ".join(f"{n} at {r}" for r, n in excused.items() if n) or "none"
        console.print(
            f"  excused as near-ties (scores within {tie:.1e}; DetectionOutput replayed on PyTorch's scores moved "
            f"by at most that reproduces ncnn's rows): {said}; not explained: {un_n + un_r - sum(excused.values())}"
        )
    lowered = [d for d in dets if d.note.startswith("no detection")]
    if lowered:
        console.print(f"  {len(lowered)} case(s) had no detection above the threshold on either side: {lowered[0].note}")
    if report.inconclusive:
        first = report.inconclusive[0]
        tensors_ok = all(t.passed for c in report.inconclusive for t in c.tensors)
        console.print(
            f"  [yellow]detections inconclusive in {len(report.inconclusive)} case(s)[/] ({first.image}@{first.size}: "
            f"{first.detections.inconclusive}); there the verdict rests on the tensor checks above, which "
            + ("all pass" if tensors_ok else "[red]FAIL[/]")
        )


def print_report(report: VerifyReport, console: Console) -> None:
    table = Table(title="ncnn vs PyTorch (worst case per size and tensor)", show_lines=False)
    for col in ("size", "tensor", "stage", "max abs error", "limit", "ok"):
        table.add_column(col, justify="right" if col in ("max abs error", "limit") else "left")
    for size in report.sizes:
        cases = [c for c in report.cases if c.size == size]
        # raw head maps are summarised per stage (worst of loc0..conf{K-1}); contract blobs get a row each
        groups: dict[tuple[str, str], list] = {}
        for c in cases:
            for t in c.tensors:
                label = "heads (loc_k, conf_k)" if t.name[:3] in ("loc", "con") and t.name[-1].isdigit() else t.name
                groups.setdefault((label, t.stage), []).append(t)
        for (label, stage), checks in groups.items():
            worst = max(checks, key=lambda t: t.max_abs / max(t.limit, 1e-30))
            ok = all(t.passed for t in checks)
            table.add_row(str(size), label, stage, f"{worst.max_abs:.2e}", f"{worst.limit:.1e}", "[green]yes[/]" if ok else "[red]NO[/]")
        det = [c.detections for c in cases]
        table.add_row(
            str(size),
            "detection_out",
            "end-to-end",
            f"{max(d.max_score_err for d in det):.1e}/{max(d.max_box_err for d in det):.1e}",
            f"{max(d.score_limit for d in det):.0e}/{report.tolerances.box_atol:.0e}",
            "[red]NO[/]" if not all(d.passed for d in det)
            else "[yellow]inconclusive[/]" if any(d.inconclusive for d in det) else "[green]yes[/]",
        )
    console.print(table)
    console.print("detection_out errors are score/box, for detections matched by label and IoU")
    print_detection_summary(report, console)
    print_pipelines(report, console)


def print_pipelines(report: VerifyReport, console: Console) -> None:
    """The pipeline difference (--images), apart from parity: PyTorch as trained vs ncnn as deployed."""
    if not report.pipelines:
        return
    console.print(
        "pipeline difference (not parity): PyTorch with its training resize (Pillow) vs ncnn with its own "
        "(from_pixels_resize), same images"
    )
    for size, p in report.pipelines.items():
        console.print(
            f"  @{size}: detections scoring > {SHOWN_SCORE}: ncnn {p.ncnn_count}, PyTorch {p.torch_count}, "
            f"{p.matched} matched; matched differ by up to {p.max_score_diff:.3f} in score and "
            f"{p.max_box_diff_px:.1f} px in box (at {size} px)"
        )
        if p.map_ncnn is not None and p.map_torch is not None and p.map_margin is not None:
            verdict = "[red]FAIL[/]" if p.map_failed else "ok"
            console.print(
                f"  mAP@{size} (VOC07, {p.images} images): ncnn {100 * p.map_ncnn:.2f}, PyTorch {100 * p.map_torch:.2f} "
                f"({100 * (p.map_ncnn - p.map_torch):+.2f} points); gate: fails only when ncnn is lower by more "
                f"than {p.map_margin:.2f} points (map_atol or 2x the bootstrap standard error over these images): {verdict}"
            )
