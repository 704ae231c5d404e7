"""What `verify` found, as one object: `.passed`, `.summary()` (plain text) and `.to_dict()` (JSON, and
what the HTML report renders): per case, the per-stage tensor table with each limit and the detection rows
(matched, excused with the reason, unexplained, with boxes); per size, the pipeline difference; and the
image files that could not be read."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from .case import CaseResult
from .pipeline import PipelineDiff
from .tolerances import Tolerances


@dataclass
class VerifyReport:
    cases: list[CaseResult]
    tolerances: Tolerances
    sizes: list[int]
    pipelines: dict[int, PipelineDiff] = field(default_factory=dict)  # per size, with --images
    bad_files: list[tuple[str, str]] = field(default_factory=list)  # (file, why it could not be used)

    @property
    def map_failures(self) -> list[str]:
        return [
            f"mAP@{s}: ncnn's pipeline {100 * p.map_ncnn:.2f} is {100 * (p.map_torch - p.map_ncnn):.2f} points below "
            f"PyTorch's {100 * p.map_torch:.2f}, more than the margin {p.map_margin:.2f} for {p.images} images"
            for s, p in self.pipelines.items()
            if p.map_failed and p.map_ncnn is not None and p.map_torch is not None
        ]

    @property
    def passed(self) -> bool:
        """Every check within tolerance (bad image files are reported apart: `bad_files`)."""
        return all(c.passed for c in self.cases) and not self.map_failures

    @property
    def inconclusive(self) -> list[CaseResult]:
        """Cases whose detections could not be compared: their verdict rests on the tensor checks."""
        return [c for c in self.cases if c.detections.verdict == "inconclusive"]

    def failures(self) -> list[str]:
        return [f for c in self.cases for f in c.failures()] + self.map_failures

    def summary(self) -> str:
        """A few plain lines: the verdict, what the detections compared, and what rests on the tensors."""
        dets = [c.detections for c in self.cases]
        lines = [f"{'passed' if self.passed else 'FAILED'}: {len(self.cases)} case(s) at sizes "
                 f"{', '.join(map(str, self.sizes))}; {len(self.failures())} check(s) out of tolerance",
                 f"detections: {sum(d.matched for d in dets)} matched, {sum(d.unmatched_ncnn for d in dets)} only in "
                 f"ncnn, {sum(d.unmatched_ref for d in dets)} only in PyTorch"]
        if self.inconclusive:
            first = self.inconclusive[0]
            tensors_ok = all(t.passed for c in self.inconclusive for t in c.tensors)
            lines.append(f"detections inconclusive in {len(self.inconclusive)} case(s) ({first.image}@{first.size}: "
                         f"{first.detections.inconclusive}); there the verdict rests on the tensor checks, which "
                         f"{'all pass' if tensors_ok else 'FAIL'}")
        lines += [f"cannot use {name}: {why}" for name, why in self.bad_files]
        lines += self.failures()[:5]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {
            "passed": self.passed,
            "sizes": self.sizes,
            "tolerances": asdict(self.tolerances),
            "failures": self.failures(),
            "inconclusive": [f"{c.image}@{c.size}: {c.detections.inconclusive}" for c in self.inconclusive],
            "bad_files": [{"file": n, "error": e} for n, e in self.bad_files],
            "pipeline": {str(s): p.as_dict() for s, p in self.pipelines.items()},
            "cases": [c.to_dict() for c in self.cases],
        }

    as_dict = to_dict  # the name the earlier reports used
