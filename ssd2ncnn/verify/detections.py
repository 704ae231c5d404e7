"""ncnn's detection_out against PyTorch's, where a difference passes only when near-tied scores explain it.

Two correct runtimes differ in float rounding (~1e-7 on scores), so DetectionOutput may legitimately
choose differently wherever two scores are closer than that noise:
- NMS: two overlapping boxes of one class with near-tied scores: which one is kept flips, and so does
  every box that the kept one suppresses (a cascade);
- the keep_top_k cut, the per-class nms_top_k cut and the confidence threshold.

The judge is a replay, not a list of rules: PyTorch's own candidates (every prior's decoded box and class
scores) go through DetectionOutput's algorithm again (`model.postprocess.select`) with each score moved by
at most the tie tolerance, towards ncnn's choice: up where ncnn kept that prior; for a prior ncnn did not
keep but one of its kept boxes of that class overlaps by more than the NMS threshold, as high as it can go
while staying below that box and every kept box of its class; down for every other prior. If that
reproduces ncnn's detections exactly, ncnn's output is what DetectionOutput gives for scores within the
tolerance of PyTorch's, and every difference is excused. It is the most favourable perturbation: only
kept boxes suppress in greedy NMS, so kept ones go first; a prior that a kept box suppresses changes no
output wherever it sits, so it takes the places at a tied per-class nms_top_k cut before a prior that
would be kept if it got in (ncnn's qsort and torch's sort fill those places in different orders). A failed
replay means no perturbation within the tolerance explains ncnn's output: the differing rows are named.
Rows excused at a tied nms_top_k cut are counted apart (`nms_top_k_ties`).

The tie tolerance is tied to what was measured: `max(tol.tie_atol, TIE_FACTOR x` the class-score error
between the two runtimes `)`, capped at `score_atol`, so a broken model with large score errors does not
widen it beyond what the matched detections must meet anyway.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from ..config import SSDConfig
from ..data.boxes import iou_matrix
from ..model.postprocess import decode_boxes, select
from .tolerances import Tolerances

TIE_FACTOR = 4.0  # near-tied: within 4x the largest class-score difference measured between the runtimes
IOU_EPS = 1e-4  # IoU noise from box errors of ~1e-7; two kept boxes may overlap this much above nms_threshold

REASONS = ("nms tie", "keep_top_k cut", "threshold cut", "nms_top_k cut")


@dataclass
class Candidates:
    """Everything DetectionOutput chose from, on the reference side: per prior, its decoded box and scores."""

    boxes: np.ndarray  # (P, 4) x1, y1, x2, y2 in [0, 1]
    scores: np.ndarray  # (P, C) after Softmax/Sigmoid, class 0 the background


def candidates_from_blobs(loc: np.ndarray, conf: np.ndarray, priorbox: np.ndarray, cfg: SSDConfig) -> Candidates:
    """Candidates from the contract blobs mbox_loc, mbox_conf_flatten and mbox_priorbox."""
    import torch

    priors = torch.from_numpy(np.asarray(priorbox, np.float32)[0].reshape(-1, 4))
    boxes = decode_boxes(torch.from_numpy(np.asarray(loc, np.float32).reshape(-1, 4)), priors, cfg)
    return Candidates(boxes, np.asarray(conf, np.float32).reshape(-1, cfg.num_classes))


@dataclass
class DetectionCheck:
    matched: int
    unmatched_ncnn: int
    unmatched_ref: int
    excused: dict[str, int]  # reason -> count of unmatched rows explained by near-ties there
    unexplained: list[str]  # each difference no near-tie explains, naming the row
    tie_tol: float
    max_score_err: float
    max_box_err: float
    passed: bool  # no failure; an inconclusive check passes, and says so
    note: str = ""  # what was compared when the plain comparison had nothing to compare
    threshold: float = 0.0  # detections with score above this were compared
    inconclusive: str = ""  # why the detections could not be compared; the verdict rests on the tensors
    score_limit: float = 0.0  # the score tolerance of matched rows
    rows: list[dict] = field(default_factory=list)  # every compared row: matched, excused (reason), unexplained

    @property
    def compared(self) -> int:
        return self.matched + self.unmatched_ncnn + self.unmatched_ref

    @property
    def verdict(self) -> str:
        return "fail" if not self.passed else "inconclusive" if self.inconclusive else "pass"

    def as_dict(self) -> dict:
        return asdict(self) | {"compared": self.compared, "verdict": self.verdict}


def match_detections(got: np.ndarray, ref: np.ndarray, match_iou: float) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Pairs (ncnn row, reference row) of one label, taken greedily by decreasing IoU: a detection's own
    twin (IoU ~1) is always preferred over a neighbouring prior's box of similar score."""
    pairs: list[tuple[int, int]] = []
    if len(got) and len(ref):
        iou = iou_matrix(got[:, 2:6], ref[:, 2:6])
        iou[got[:, 0][:, None] != ref[:, 0][None, :]] = -1.0
        cand = np.argwhere(iou >= match_iou)
        order = np.argsort(-iou[cand[:, 0], cand[:, 1]], kind="stable")
        used_got, used_ref = set(), set()
        for j, i in cand[order]:
            if j not in used_got and i not in used_ref:
                pairs.append((int(j), int(i)))
                used_got.add(j)
                used_ref.add(i)
    got_left = sorted(set(range(len(got))) - {p[0] for p in pairs})
    ref_left = sorted(set(range(len(ref))) - {p[1] for p in pairs})
    return pairs, got_left, ref_left


def _row(r: np.ndarray) -> str:
    return f"label {int(r[0])} score {r[1]:.6f} box ({r[2]:.4f}, {r[3]:.4f}, {r[4]:.4f}, {r[5]:.4f})"


def nms_violations(rows: np.ndarray, nms_threshold: float, side: str) -> list[str]:
    """Two kept boxes of one class overlapping more than nms_threshold: no NMS with that threshold keeps
    both, whatever the scores (a changed NMS threshold shows here)."""
    out = []
    for c in np.unique(rows[:, 0]):
        idx = np.nonzero(rows[:, 0] == c)[0]
        iou = np.triu(iou_matrix(rows[idx, 2:6], rows[idx, 2:6]), 1)
        for a, b in np.argwhere(iou > nms_threshold + IOU_EPS):
            out.append(f"{side} keeps two boxes of label {int(c)} overlapping IoU {iou[a, b]:.3f} > nms_threshold "
                       f"{nms_threshold}: {_row(rows[idx[a]])} and {_row(rows[idx[b]])}")
    return out


def identify(rows: np.ndarray, cand: Candidates, box_atol: float, score_atol: float) -> tuple[list[int | None], list[str]]:
    """The reference prior behind each ncnn row: same class, box within box_atol, score within
    score_atol; None (and a named failure) when no prior has that box."""
    priors: list[int | None] = []
    failures = []
    for r in rows:
        c = int(r[0])
        err = np.abs(cand.boxes - r[2:6]).max(axis=1)
        ok = np.nonzero((err <= box_atol) & (np.abs(cand.scores[:, c] - r[1]) <= score_atol))[0]
        if ok.size == 0:
            priors.append(None)
            failures.append(f"ncnn's {_row(r)} is no PyTorch prior's box and score (box error > {box_atol:g})")
        else:
            priors.append(int(ok[np.argmin(err[ok])]))
    return priors, failures


def _covered(cand: Candidates, c: int, kept: list[int], cfg: SSDConfig, tie_tol: float) -> np.ndarray:
    """Class c's candidates that ncnn did not keep but one of its kept boxes can suppress: IoU above the NMS
    threshold, and a score that, moved up, is no lower than the candidate's moved down, so it can come first."""
    s = cand.scores[:, c].astype(np.float64)
    live = np.nonzero(s > cfg.conf_threshold - tie_tol)[0]
    live = live[~np.isin(live, kept)]
    lead = s[kept][None, :] + tie_tol
    can = (iou_matrix(cand.boxes[live], cand.boxes[kept]) > cfg.nms_threshold) & (lead >= s[live][:, None] - tie_tol)
    return live[can.any(axis=1)]


def _moved_scores(cand: Candidates, chosen: set[tuple[int, int]], cfg: SSDConfig, tie_tol: float) -> np.ndarray:
    """PyTorch's scores, each moved by at most tie_tol towards ncnn's choice (module docstring). The
    background column is moved too, but DetectionOutput never reads it."""
    scores = cand.scores.astype(np.float64)
    moved = scores - tie_tol
    by_class: dict[int, list[int]] = {}
    for c, p in chosen:
        moved[p, c] += 2 * tie_tol
        by_class.setdefault(c, []).append(p)
    for c, kept in by_class.items():
        live = _covered(cand, c, kept, cfg, tie_tol)
        # just below every kept box of its class (so below its suppressor; an exact tie keeps prior order),
        # so it never takes a kept box's place in the nms_top_k list
        cap = np.nextafter(moved[kept, c].min(), -np.inf)
        moved[live, c] = np.clip(cap, scores[live, c] - tie_tol, scores[live, c] + tie_tol)
    return moved


def replay(rows: np.ndarray, cand: Candidates, cfg: SSDConfig, tie_tol: float, min_score: float,
           box_atol: float, score_atol: float) -> list[str]:
    """Differences between ncnn's rows and DetectionOutput replayed on PyTorch's candidates with each
    score moved by at most tie_tol towards ncnn's choice (see the module docstring); [] when it agrees."""
    priors, failures = identify(rows, cand, box_atol, score_atol)
    if failures:
        return failures
    chosen = {(int(r[0]), p) for r, p in zip(rows, priors, strict=True) if p is not None}
    kept = set(select(cand.boxes, _moved_scores(cand, chosen, cfg, tie_tol), cfg))
    out = []
    # Rows within tie_tol of the min_score cut may fall either side of it.
    def above(c: int, p: int) -> bool:
        return float(cand.scores[p, c]) > min_score + tie_tol

    for c, p in sorted(chosen - kept):
        if above(c, p):
            out.append(f"ncnn keeps label {c} prior {p} (PyTorch score {cand.scores[p, c]:.6f}), which no "
                       f"score change within {tie_tol:.2g} lets DetectionOutput keep")
    for c, p in sorted(kept - chosen):
        if above(c, p):
            out.append(f"ncnn drops label {c} prior {p} (PyTorch score {cand.scores[p, c]:.6f}, box "
                       f"{[round(float(v), 4) for v in cand.boxes[p]]}), which DetectionOutput keeps for every score "
                       f"change within {tie_tol:.2g}")
    return out


@dataclass(frozen=True)
class CutTie:
    """Class `label`'s per-class nms_top_k list is not determined: its last place and the first candidate
    left out score within 2 x the tie tolerance of each other, so which of the `tied` candidates near the
    cut `score` fill the `places` left after the surely-kept ones depends on the sort's tie order (ncnn's
    qsort against torch's sort) and on float noise; NMS and keep_top_k differ downstream of that choice."""

    label: int
    score: float
    tied: int
    places: int

    def reason(self) -> str:
        return (f"tie at the nms_top_k cut of class {self.label}: {self.tied} candidates at score "
                f"{self.score:.6g} for {self.places} places")


def nms_top_k_ties(cand: Candidates | None, cfg: SSDConfig, tie_tol: float) -> dict[int, CutTie]:
    """The classes whose nms_top_k cut (ncnn detectionoutput.cpp: per class, the candidates above
    confidence_threshold sorted by score and cut to nms_top_k before NMS) falls inside a near-tie."""
    out: dict[int, CutTie] = {}
    if cand is None:
        return out
    k = cfg.nms_top_k
    for c in range(1, cand.scores.shape[1]):
        s = cand.scores[:, c].astype(np.float64)
        s = -np.sort(-s[s > cfg.conf_threshold])
        if s.size > k and s[k] >= s[k - 1] - 2 * tie_tol:
            near = np.abs(s - s[k - 1]) <= 2 * tie_tol
            out[c] = CutTie(c, float(s[k - 1]), int(near.sum()), k - int(np.argmax(near)))
    return out


def _reason(row: np.ndarray, others: np.ndarray, threshold: float, keep_top_k: int, tie_tol: float,
            cuts: dict[int, CutTie]) -> tuple[str, str]:
    """Where an excused difference sits, for the report: (the kind counted in `REASONS`, the row's text)."""
    if row[1] <= threshold + tie_tol:
        return "threshold cut", "threshold cut"
    cut = cuts.get(int(row[0]))
    if cut is not None and row[1] <= cut.score + 2 * tie_tol:
        return "nms_top_k cut", cut.reason()
    if len(others) >= keep_top_k and row[1] <= others[:, 1].min() + tie_tol:
        return "keep_top_k cut", "keep_top_k cut"
    return "nms tie", "nms tie"


def tie_tolerance(tol: Tolerances, measured_score_err: float) -> float:
    return float(min(tol.score_limit(), max(tol.tie_atol, TIE_FACTOR * measured_score_err)))


def all_tied(cand: Candidates | None, threshold: float, tie_tol: float) -> str:
    """Why no detection comparison is possible on these candidates, or "": every foreground score that
    could be selected lies within 2 x tie_tol of every other (an untrained or input-blind model), so which
    rows DetectionOutput keeps is float noise on both sides."""
    if cand is None or cand.scores.shape[1] < 2:
        return ""
    fg = cand.scores[:, 1:]
    live = fg[fg > threshold - tie_tol]
    if live.size < 2:
        return ""
    spread = float(live.max() - live.min())
    if spread > 2 * tie_tol:
        return ""
    return (f"all {live.size} candidate scores above the threshold {threshold:g} lie within {spread:.1e} of each "
            f"other (2 x the tie tolerance is {2 * tie_tol:.1e}): which rows DetectionOutput keeps is float noise")


def _box(r: np.ndarray) -> list[float]:
    return [round(float(v), 6) for v in r[2:6]]


def detection_rows(got: np.ndarray, ref: np.ndarray, pairs, left: dict[str, list[int]], reasons: dict[tuple[str, int], str]) -> list[dict]:
    """The compared rows for the report: matched pairs, then each side's unmatched rows with the reason a
    near-tie gives for them ("" when none explains it)."""
    out = [{"status": "matched", "label": int(got[j, 0]), "ncnn_score": float(got[j, 1]), "torch_score": float(ref[i, 1]),
            "ncnn_box": _box(got[j]), "torch_box": _box(ref[i])} for j, i in pairs]
    for side, rows in (("ncnn", got), ("PyTorch", ref)):
        for k in left[side]:
            why = reasons.get((side, k), "")
            out.append({"status": "excused" if why else "unexplained", "side": side, "label": int(rows[k, 0]),
                        "score": float(rows[k, 1]), "box": _box(rows[k]), "reason": why})
    return out


def _pairs(got: np.ndarray, ref: np.ndarray, tol: Tolerances):
    """Matched pairs and each side's leftovers. A pair whose boxes disagree is two different, overlapping
    priors, not one detection with a wrong box: both become unmatched and must be explained."""
    pairs, got_left, ref_left = match_detections(got, ref, tol.match_iou)
    split = [(j, i) for j, i in pairs if np.abs(got[j, 2:6] - ref[i, 2:6]).max() > tol.box_atol]
    pairs = [p for p in pairs if p not in split]
    return pairs, sorted(got_left + [j for j, _ in split]), sorted(ref_left + [i for _, i in split])


def compare_detections(got: np.ndarray, ref: np.ndarray, cfg: SSDConfig, tol: Tolerances,
                       candidates: Candidates | None = None, measured_score_err: float | None = None) -> DetectionCheck:
    """ncnn rows `got` against reference rows `ref` (label, score, x1, y1, x2, y2). With `candidates`
    (the reference side's boxes and scores per prior) differences are judged by replay; without them,
    only differences at the threshold or keep_top_k cut can be excused. `tol.min_score` > 0 compares
    only the detections scoring above it (int8: the low-score tail moves). The check is inconclusive,
    not passed, when every candidate score is tied or no row matched: nothing was compared."""
    got = np.asarray(got, dtype=np.float64).reshape(-1, 6)
    ref = np.asarray(ref, dtype=np.float64).reshape(-1, 6)
    threshold = max(cfg.conf_threshold, tol.min_score)
    got, ref = got[got[:, 1] > tol.min_score], ref[ref[:, 1] > tol.min_score]
    pairs, got_left, ref_left = _pairs(got, ref, tol)
    score_err = max((abs(got[j, 1] - ref[i, 1]) for j, i in pairs), default=0.0)
    box_err = max((float(np.abs(got[j, 2:6] - ref[i, 2:6]).max()) for j, i in pairs), default=0.0)
    tie_tol = tie_tolerance(tol, score_err if measured_score_err is None else measured_score_err)

    unexplained = nms_violations(got, cfg.nms_threshold, "ncnn") + nms_violations(ref, cfg.nms_threshold, "PyTorch")
    cuts = nms_top_k_ties(candidates, cfg, tie_tol)
    if got_left or ref_left:
        if candidates is not None:
            unexplained += replay(got, candidates, cfg, tie_tol, tol.min_score, tol.box_atol, tol.score_limit())
        else:
            for side, rows, left, others in (("ncnn", got, got_left, ref), ("PyTorch", ref, ref_left, got)):
                for k in left:
                    if _reason(rows[k], others, threshold, cfg.keep_top_k, tie_tol, cuts)[0] == "nms tie":
                        unexplained.append(f"only {side} has {_row(rows[k])}, not at a cut-off")
    tied = all_tied(candidates, threshold, tie_tol)
    excused = dict.fromkeys(REASONS, 0)
    reasons: dict[tuple[str, int], str] = {}
    if not unexplained or tied:
        for side, rows, left, others in (("ncnn", got, got_left, ref), ("PyTorch", ref, ref_left, got)):
            for k in left:
                kind, reasons[side, k] = (("all scores tied",) * 2 if tied else
                                          _reason(rows[k], others, threshold, cfg.keep_top_k, tie_tol, cuts))
                excused[kind] = excused.get(kind, 0) + 1
    if tied:
        unexplained = []  # each of them a tie: nothing can be judged, nothing failed
    elif not pairs and (got_left or ref_left) and not unexplained:
        tied = f"no row matched ({len(got_left)} only in ncnn, {len(ref_left)} only in PyTorch, each a near-tie)"
    passed = bool(not unexplained and score_err <= tol.score_limit() and box_err <= tol.box_atol)
    return DetectionCheck(len(pairs), len(got_left), len(ref_left), excused, unexplained, tie_tol,
                          float(score_err), float(box_err), passed, threshold=threshold, inconclusive=tied,
                          score_limit=tol.score_limit(),
                          rows=detection_rows(got, ref, pairs, {"ncnn": got_left, "PyTorch": ref_left}, reasons))


def reference_rows(cand: Candidates, cfg: SSDConfig) -> np.ndarray:
    """DetectionOutput's rows (label, score, x1, y1, x2, y2) on the candidates."""
    picked = select(cand.boxes, cand.scores, cfg)
    return np.asarray([(c, cand.scores[p, c], *cand.boxes[p]) for c, p in picked], np.float32).reshape(-1, 6)
