"""Human-readable verify output (rich tables); the JSON report is `VerifyReport.as_dict`."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from .detections import REASONS
from .parity import VerifyReport


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
    empty = [d for d in dets if d.compared == 0]
    if empty:
        console.print(f"  [yellow]{len(empty)} case(s) compared no detections at all[/]: {empty[0].note or 'both sides empty'}")


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
            f"{report.tolerances.score_atol:.0e}/{report.tolerances.box_atol:.0e}",
            "[green]yes[/]" if all(d.passed for d in det) else "[red]NO[/]",
        )
    console.print(table)
    console.print("detection_out errors are score/box, for detections matched by label and IoU")
    print_detection_summary(report, console)
    for size in report.map_ncnn:
        console.print(
            f"mAP@{size} (VOC07): ncnn {100 * report.map_ncnn[size]:.2f}, PyTorch {100 * report.map_torch[size]:.2f}, "
            f"difference {100 * (report.map_ncnn[size] - report.map_torch[size]):+.2f} points"
        )
