"""Human-readable verify output (rich tables); the JSON report is `VerifyReport.as_dict`."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from .parity import VerifyReport


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
    matched = sum(c.detections.matched for c in report.cases)
    un_n = sum(c.detections.unmatched_ncnn for c in report.cases)
    un_r = sum(c.detections.unmatched_ref for c in report.cases)
    ties = sum(c.detections.ties for c in report.cases)
    console.print(
        f"detections: {matched} matched, {un_n} only in ncnn, {un_r} only in PyTorch, {ties} equal-score ties "
        f"ordered differently, over {len(report.cases)} cases"
    )
    for size in report.map_ncnn:
        console.print(
            f"mAP@{size} (VOC07): ncnn {100 * report.map_ncnn[size]:.2f}, PyTorch {100 * report.map_torch[size]:.2f}, "
            f"difference {100 * (report.map_ncnn[size] - report.map_torch[size]):+.2f} points"
        )
