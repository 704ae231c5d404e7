"""The bench result as a rich table (and its JSON is the dict itself)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table


def _f(v, fmt="{:.1f}"):
    return "-" if v is None else fmt.format(v)


def _spread(s: dict) -> str:
    if s.get("round_low") is None:
        return f"{s['ratio']:.2f}"
    return f"{s['ratio']:.2f} [{s['round_low']:.2f}-{s['round_high']:.2f}]"


def render(result: dict, console: Console | None = None) -> None:
    console = console or Console()
    m = result["model"]
    title = f"{m['dir']} ({m.get('preset')}, width {m.get('width_mult')}{', int8' if m.get('int8') else ''})"
    table = Table(title=title)
    for col in ("size", "threads", "engine", "median ms", "p90 ms", "img/s", "peak RSS Δ MB"):
        table.add_column(col, justify="left" if col == "engine" else "right")
    for c in result["configs"]:
        rows = list(c["engines"].items())
        if c.get("structure"):
            rows += [(k, v) for k, v in c["structure"].items() if isinstance(v, dict) and "median_ms" in v]
        for name, s in rows:
            table.add_row(str(c["size"]), str(c["threads"]), name, _f(s["median_ms"]), _f(s["p90_ms"]),
                          _f(s["throughput_fps"]), _f(s.get("peak_rss_delta_mb")))
        table.add_section()
    console.print(table)
    for c in result["configs"]:
        parts = [f"{k} {_spread(v)}" for k, v in c.get("ratio_spreads", {}).items() if v]
        if c.get("structure") and c["structure"].get("seed_over_ours_spread"):
            st = c["structure"]
            parts.append(f"seed/ours ({st.get('weights', 'empty')} weights, {st.get('layers')} layers) {_spread(st['seed_over_ours_spread'])}")
        console.print(f"{c['size']} px, {c['threads']} thread(s): ratios of medians [lowest-highest of the "
                      f"per-round ratios]: " + "; ".join(parts), markup=False)
    for k, why in result.get("skipped", {}).items():
        console.print(f"skipped {k}: {why}")
    lb, la = result["machine_before"]["loadavg"], result["machine_after"]["loadavg"]
    if lb[0] is not None:
        console.print(f"load average (1 min) before {lb[0]:.2f}, after {la[0]:.2f} on {result['machine_before']['cpu_count']} CPUs")
