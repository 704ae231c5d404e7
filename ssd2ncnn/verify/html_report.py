"""`verify --html`: the report as one self-contained HTML page, rendered from `VerifyResult.to_dict()` and
the verified images. Nothing is fetched when it opens: images are inline JPEG (base64), boxes inline SVG,
the style inline CSS, no script.

Each image at each size shows both runtimes' detections over the picture: ncnn's boxes solid, PyTorch's
dashed; matched rows green, rows excused as near-ties amber (the reason in the caption and tooltip),
unexplained rows red and thick. Then the per-tensor, per-stage error table with its limits, the pipeline
difference (--images), and the versions and settings."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterable
from typing import Any

from PIL import Image

THUMB = 360  # longest side of a picture as shown, px (smaller pictures are embedded as they are, shown scaled)
DRAWN_SCORE = 0.3  # matched rows drawn only above this (detect's default): the differences are always drawn
STATUSES = ("matched", "excused", "unexplained")

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1400px}
h1{margin:0 0 4px}#verdict{padding:12px 16px;border-radius:6px;margin-bottom:16px}
#verdict.pass{background:#e3f4e8;border:2px solid #1a9850}#verdict.fail{background:#fbe3e3;border:2px solid #d7191c}
.cases{display:flex;flex-wrap:wrap;gap:16px}figure{margin:0;width:360px}
.pic{position:relative;display:inline-block;line-height:0}.pic img{display:block}
.pic svg{position:absolute;left:0;top:0;width:100%;height:100%}
figcaption{font-size:12px;margin-top:4px}
rect.box{fill:none;vector-effect:non-scaling-stroke;stroke-width:2}
rect.pytorch{stroke-dasharray:5 3}rect.matched{stroke:#1a9850}rect.excused{stroke:#f39c12}
rect.unexplained{stroke:#d7191c;stroke-width:4}
table{border-collapse:collapse;margin:8px 0 16px}td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}
td.num{text-align:right;font-family:monospace}tr.bad td{background:#fbe3e3}
.legend svg{vertical-align:middle;margin-right:4px}.legend span{margin-right:16px}
"""


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def embed_jpeg(image: Image.Image) -> tuple[str, int, int]:
    """A data: URI of `image` at most THUMB on its longest side, and the width and height to show it at
    (THUMB on the longest side)."""
    im = image.convert("RGB")
    im.thumbnail((THUMB, THUMB))
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=85)
    scale = THUMB / max(im.width, im.height)
    uri = "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
    return uri, round(im.width * scale), round(im.height * scale)


def drawn_boxes(case: dict) -> list[dict]:
    """The boxes a figure draws, one per side and row: both boxes of each matched pair scoring above
    DRAWN_SCORE, and every excused or unexplained row (`DetectionCheck.rows`)."""
    out = []
    for r in case["detections"].get("rows", []):
        if r["status"] != "matched":
            out.append({**r, "side": r["side"].lower()})
        elif max(r["ncnn_score"], r["torch_score"]) > DRAWN_SCORE:
            for side, key in (("ncnn", "ncnn"), ("pytorch", "torch")):
                out.append({"status": "matched", "side": side, "label": r["label"], "score": r[f"{key}_score"],
                            "box": r[f"{key}_box"], "reason": ""})
    return out


def _box(row: dict, names: list[str]) -> str:
    x1, y1, x2, y2 = row["box"]
    label = names[row["label"]] if 0 <= row["label"] < len(names) else f"label {row['label']}"
    why = f" ({row['reason']})" if row.get("reason") else ""
    tip = f"{row['side']}: {label} {row['score']:.4f}, {row['status']}{why}"
    return (f'<rect class="box {esc(row["side"])} {esc(row["status"])}" x="{x1:.5f}" y="{y1:.5f}" '
            f'width="{max(x2 - x1, 0):.5f}" height="{max(y2 - y1, 0):.5f}"><title>{esc(tip)}</title></rect>')


def _caption(case: dict) -> str:
    det = case["detections"]
    rows = det.get("rows", [])
    counts = {s: sum(r["status"] == s for r in rows) for s in STATUSES}
    reasons = sorted({r["reason"] for r in rows if r["status"] == "excused" and r["reason"]})
    text = (f"<b>{esc(case['image'])} @ {case['size']} px</b>: {counts['matched']} matched pairs, "
            f"{counts['excused']} excused{' (' + esc(', '.join(reasons)) + ')' if reasons else ''}, "
            f"{counts['unexplained']} unexplained; scores compared above {det['threshold']:.3g}, matched pairs "
            f"drawn above {DRAWN_SCORE}")
    for extra in (det.get("inconclusive"), det.get("note")):
        if extra:
            text += f"<br>{esc(extra)}"
    text += "".join(f"<br><span style='color:#d7191c'>{esc(u)}</span>" for u in det.get("unexplained", [])[:5])
    return text


def _figure(case: dict, picture: tuple[str, int, int] | None, names: list[str]) -> str:
    boxes = "".join(_box(r, names) for r in drawn_boxes(case))
    if picture is None:
        pic = '<div class="pic" style="width:360px;height:360px;background:#eee">'
    else:
        uri, w, h = picture
        pic = f'<div class="pic"><img src="{uri}" width="{w}" height="{h}" alt="{esc(case["image"])}">'
    svg = f'<svg viewBox="0 0 1 1" preserveAspectRatio="none">{boxes}</svg></div>'
    return f'<figure class="case">{pic}{svg}<figcaption>{_caption(case)}</figcaption></figure>'


def _legend() -> str:
    def swatch(side: str, status: str) -> str:
        return (f'<svg width="28" height="16"><rect class="box {side} {status}" x="2" y="2" width="24" '
                f'height="12"></rect></svg>')

    items = [("ncnn", "matched", "ncnn (solid)"), ("pytorch", "matched", "PyTorch (dashed)"),
             ("ncnn", "matched", "matched"), ("ncnn", "excused", "excused: near-tie at NMS, the nms_top_k, keep_top_k or threshold cut"),
             ("ncnn", "unexplained", "unexplained")]
    return '<p class="legend">' + "".join(f"<span>{swatch(a, b)}{esc(t)}</span>" for a, b, t in items) + "</p>"


def _table(header: Iterable[str], rows: Iterable[tuple[list[str], bool]]) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join(f'<tr class="{"" if ok else "bad"}">' + "".join(cells) + "</tr>" for cells, ok in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _num(value: float, fmt: str = ".2e") -> str:
    return f'<td class="num">{value:{fmt}}</td>'


def worst_tensors(report: dict) -> dict[tuple[str, str], dict[int, dict]]:
    """(tensor, stage) -> size -> the worst check over the images (largest error / limit), with `all_passed`."""
    worst: dict[tuple[str, str], dict[int, dict]] = {}
    for case in report["cases"]:
        for t in case["tensors"]:
            per_size = worst.setdefault((t["name"], t["stage"]), {})
            old = per_size.get(case["size"])
            ratio = t["max_abs"] / max(t["limit"], 1e-30)
            keep = old if old is not None and old["max_abs"] / max(old["limit"], 1e-30) >= ratio else t
            per_size[case["size"]] = keep | {"all_passed": t["passed"] and (old is None or old["all_passed"])}
    return worst


def _cell(t: dict | None) -> str:
    if t is None:
        return "<td></td>"
    style = "" if t["all_passed"] else ' style="background:#fbe3e3"'
    return (f'<td class="num"{style} title="max rel error {t["max_rel"]:.2e}">{t["max_abs"]:.2e} / '
            f'{t["limit"]:.1e}</td>')


def tensor_table(report: dict) -> str:
    """One row per tensor and stage, one column per size: max abs error / limit (worst over the images);
    then the detection errors against their tolerances."""
    sizes = report["sizes"]
    rows = []
    for (name, stage), per_size in worst_tensors(report).items():
        ok = all(t["all_passed"] for t in per_size.values())
        rows.append(([f"<td>{esc(name)}</td>", f"<td>{esc(stage)}</td>", *(_cell(per_size.get(s)) for s in sizes),
                      f"<td>{'yes' if ok else 'NO'}</td>"], ok))
    box_atol = report["tolerances"]["box_atol"]
    cells, all_ok = [], True
    for size in sizes:
        dets = [c["detections"] for c in report["cases"] if c["size"] == size]
        ok = all(d["passed"] for d in dets)
        all_ok &= ok
        score, box = max((d["max_score_err"] for d in dets), default=0.0), max((d["max_box_err"] for d in dets), default=0.0)
        limit = min((d.get("score_limit", 0.0) for d in dets), default=0.0)  # derived per case from its logits
        cells.append(f'<td class="num"{"" if ok else " style=background:#fbe3e3"}>{score:.1e} / {limit:.1e}; '
                     f"{box:.1e} / {box_atol:.0e}</td>")
    rows.append((["<td>detection_out score / limit; box / limit</td>", "<td>end-to-end</td>", *cells,
                  f"<td>{'yes' if all_ok else 'NO'}</td>"], all_ok))
    header = ["tensor", "stage", *(f"{s} px: max abs error / limit" for s in sizes), "ok"]
    return _table(header, rows)


def _pipeline(report: dict) -> str:
    pipes = report.get("pipeline") or {}
    if not pipes:
        return ""
    rows = []
    for size, p in pipes.items():
        def pct(v: Any) -> str:
            return "-" if v is None else f"{100 * v:.2f}"
        rows.append(([f"<td>{esc(size)}</td>", f"<td>{p['images']}</td>", f"<td>{p['ncnn_count']}</td>",
                      f"<td>{p['torch_count']}</td>", f"<td>{p['matched']}</td>", _num(p["max_score_diff"], ".3f"),
                      _num(p["max_box_diff_px"], ".1f"), f"<td>{pct(p.get('map_ncnn'))}</td>",
                      f"<td>{pct(p.get('map_torch'))}</td>"], not p.get("map_failed")))
    header = ["size", "images", "ncnn dets", "PyTorch dets", "matched", "max score diff", "max box diff (px)",
              "mAP ncnn", "mAP PyTorch"]
    return ("<h2>Pipeline difference (not parity)</h2><p>PyTorch with its training resize (Pillow) against ncnn "
            "with its own (from_pixels_resize), on the same images.</p>" + _table(header, rows))


def _settings(report: dict) -> str:
    settings = dict(report.get("settings", {}))
    versions = settings.pop("versions", {}) or {}
    settings.pop("class_names", None)
    rows = [([f"<td>{esc(k)}</td>", f"<td>{esc(v)}</td>"], True) for k, v in settings.items()]
    rows += [([f"<td>tolerance {esc(k)}</td>", f"<td>{esc(v)}</td>"], True) for k, v in report["tolerances"].items()]
    rows += [([f"<td>{esc(k)}</td>", f"<td>{esc(v)}</td>"], True) for k, v in versions.items()]
    return "<h2>Versions and settings</h2>" + _table(["setting", "value"], rows)


def _verdict(report: dict) -> str:
    passed = bool(report["passed"])
    failures = report.get("failures", [])
    items = "".join(f"<li>{esc(f)}</li>" for f in failures[:20])
    more = f"<p>and {len(failures) - 20} more</p>" if len(failures) > 20 else ""
    text = ("every check within tolerance" if passed
            else f"{len(failures)} check(s) out of tolerance")
    notes = [f"detections inconclusive (the verdict rests on the tensors): {x}" for x in report.get("inconclusive", [])]
    notes += [f"could not read {b['file']}: {b['error']}" for b in report.get("bad_files", [])]
    extra = "".join(f"<p>{esc(n)}</p>" for n in notes[:20])
    return (f'<section id="verdict" class="{"pass" if passed else "fail"}"><h1>{"PASSED" if passed else "FAILED"}</h1>'
            f"<p>ncnn against PyTorch: {text}, {len(report['cases'])} case(s) at sizes {esc(report['sizes'])}.</p>"
            f"{'<ul>' + items + '</ul>' if items else ''}{more}{extra}</section>")


def render_html(report: dict, images: dict[str, Image.Image], title: str = "ssd2ncnn verify report") -> str:
    """The page for `report` (VerifyResult.to_dict()); `images` maps each case's image name to its picture."""
    names = list(report.get("settings", {}).get("class_names", []))
    pictures = {name: embed_jpeg(im) for name, im in images.items()}
    figures = "".join(_figure(c, pictures.get(c["image"]), names) for c in report["cases"])
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>'
            f"<style>{CSS}</style></head><body>{_verdict(report)}"
            f"<h2>Detections per image and size</h2>{_legend()}<div class=\"cases\">{figures}</div>"
            f"<h2>Errors per tensor and stage (worst over the images)</h2>{tensor_table(report)}"
            f"{_pipeline(report)}{_settings(report)}</body></html>\n")
