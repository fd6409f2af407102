"""A self-contained HTML page for a validation: tables and inline SVG plots, no scripts, no links.

Plots: confusion matrix, histogram of the device-vs-reference error, latency over samples, memory
use vs the board. Same validation -> same bytes (no timestamps).
"""

from __future__ import annotations

import html
import math
from typing import Any

import numpy as np

from tinyml import __version__
from tinyml.serial.validate import Validation, summary_rows

W, H = 560, 260
PAD_L, PAD_R, PAD_T, PAD_B = 60, 16, 20, 40


def _e(x: object) -> str:
    return html.escape(str(x), quote=True)


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1e7 or abs(v) < 0.01:
        return f"{v:.3g}"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:.4g}"


def _axes(title: str, xlabel: str, ylabel: str, y_max: float, y_min: float = 0.0) -> list[str]:
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
           f'role="img" aria-label="{_e(title)}">',
           f'<rect x="0" y="0" width="{W}" height="{H}" fill="#fff"/>',
           f'<line x1="{PAD_L}" y1="{H - PAD_B}" x2="{W - PAD_R}" y2="{H - PAD_B}" stroke="#333"/>',
           f'<line x1="{PAD_L}" y1="{PAD_T}" x2="{PAD_L}" y2="{H - PAD_B}" stroke="#333"/>',
           f'<text x="{(W + PAD_L) / 2}" y="{H - 6}" text-anchor="middle" font-size="12">{_e(xlabel)}</text>',
           f'<text x="14" y="{(H - PAD_B + PAD_T) / 2}" text-anchor="middle" font-size="12" '
           f'transform="rotate(-90 14 {(H - PAD_B + PAD_T) / 2})">{_e(ylabel)}</text>']
    for k in range(5):
        v = y_min + (y_max - y_min) * k / 4
        y = H - PAD_B - (H - PAD_B - PAD_T) * k / 4
        out.append(f'<text x="{PAD_L - 4}" y="{y + 4:.1f}" text-anchor="end" font-size="10">{_e(_fmt(v))}</text>')
        out.append(f'<line x1="{PAD_L}" y1="{y:.1f}" x2="{W - PAD_R}" y2="{y:.1f}" stroke="#eee"/>')
    return out


def histogram_svg(values: list[float] | list[int], title: str, xlabel: str, integer: bool = False) -> str:
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return "<p>no data</p>"
    lo, hi = float(v.min()), float(v.max())
    if integer:
        # always show a few steps either side of 0, so "all zero" reads as a centred spike
        edges = np.arange(math.floor(min(lo, -3.0)) - 0.5, math.ceil(max(hi, 3.0)) + 1.5, 1.0)
        if len(edges) > 41:
            edges = np.linspace(lo - 0.5, hi + 0.5, 41)
    else:
        edges = np.linspace(lo, hi if hi > lo else lo + 1e-9, 31)
    counts, edges = np.histogram(v, bins=edges)
    cmax = max(1, int(counts.max()))
    out = _axes(title, xlabel, "count", cmax)
    pw = W - PAD_L - PAD_R
    ph = H - PAD_B - PAD_T
    bw = pw / len(counts)
    for i, c in enumerate(counts):
        h = ph * c / cmax
        out.append(f'<rect class="bar" x="{PAD_L + i * bw + 1:.1f}" y="{H - PAD_B - h:.1f}" '
                   f'width="{max(bw - 2, 1):.1f}" height="{h:.1f}" fill="#4878a8">'
                   f'<title>{_e(_fmt(edges[i]))}..{_e(_fmt(edges[i + 1]))}: {c}</title></rect>')
    out.append(f'<text x="{PAD_L}" y="{H - PAD_B + 14}" font-size="10">{_e(_fmt(edges[0]))}</text>')
    out.append(f'<text x="{W - PAD_R}" y="{H - PAD_B + 14}" text-anchor="end" font-size="10">'
               f'{_e(_fmt(edges[-1]))}</text>')
    out.append("</svg>")
    return "\n".join(out)


def line_svg(values: list[int] | list[float], title: str, xlabel: str, ylabel: str) -> str:
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return "<p>no data</p>"
    y_min, y_max = 0.0, float(v.max()) * 1.1 or 1.0
    out = _axes(title, xlabel, ylabel, y_max, y_min)
    pw = W - PAD_L - PAD_R
    ph = H - PAD_B - PAD_T
    n = len(v)
    step = max(1, n // 1000)  # at most ~1000 points in the page
    pts = []
    for i in range(0, n, step):
        x = PAD_L + pw * (i / max(1, n - 1))
        y = H - PAD_B - ph * (v[i] - y_min) / (y_max - y_min)
        pts.append(f"{x:.1f},{y:.1f}")
    out.append(f'<polyline class="series" fill="none" stroke="#c05020" stroke-width="1.5" points="{" ".join(pts)}"/>')
    out.append(f'<text x="{W - PAD_R}" y="{H - PAD_B + 14}" text-anchor="end" font-size="10">{n}</text>')
    out.append("</svg>")
    return "\n".join(out)


def confusion_svg(conf: list[list[int]], row_label: str, col_label: str) -> str:
    k = len(conf)
    cell = max(14, min(40, 400 // max(1, k)))
    size = 50 + cell * k
    cmax = max(1, max(max(r) for r in conf))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{size + 10}" height="{size + 30}" '
           f'viewBox="0 0 {size + 10} {size + 30}" role="img" aria-label="confusion matrix">',
           f'<text x="{50 + cell * k / 2}" y="12" text-anchor="middle" font-size="12">{_e(col_label)}</text>',
           f'<text x="12" y="{40 + cell * k / 2}" text-anchor="middle" font-size="12" '
           f'transform="rotate(-90 12 {40 + cell * k / 2})">{_e(row_label)}</text>']
    for i in range(k):
        out.append(f'<text x="{44}" y="{30 + cell * i + cell / 2 + 4}" text-anchor="end" font-size="10">{i}</text>')
        out.append(f'<text x="{50 + cell * i + cell / 2}" y="{26}" text-anchor="middle" font-size="10">{i}</text>')
        for j in range(k):
            c = conf[i][j]
            t = c / cmax
            color = f"rgb({int(255 - 200 * t)},{int(255 - 140 * t)},{int(255 - 60 * t)})" if i == j else \
                f"rgb(255,{int(255 - 180 * t)},{int(255 - 180 * t)})"
            x, y = 50 + cell * j, 30 + cell * i
            out.append(f'<rect class="cell" x="{x}" y="{y}" width="{cell}" height="{cell}" fill="{color}" '
                       f'stroke="#ccc"><title>{i} -> {j}: {c}</title></rect>')
            if c and cell >= 18:
                out.append(f'<text x="{x + cell / 2}" y="{y + cell / 2 + 4}" text-anchor="middle" '
                           f'font-size="10">{c}</text>')
    out.append("</svg>")
    return "\n".join(out)


def memory_svg(mem: dict[str, Any]) -> str:
    bars = []
    if mem.get("flash_bytes") and mem.get("flash_used_bytes") is not None:
        bars.append(("flash", int(mem["flash_used_bytes"]), int(mem["flash_bytes"])))
    if mem.get("ram_bytes") and mem.get("ram_used_bytes") is not None:
        bars.append(("RAM", int(mem["ram_used_bytes"]), int(mem["ram_bytes"])))
    if mem.get("ram_bytes") and mem.get("arena_bytes") is not None:
        bars.append(("arena", int(mem["arena_bytes"]), int(mem["ram_bytes"])))
    if not bars:
        return "<p>no memory figures (the project has no fit numbers in tinyml.json)</p>"
    h = 30 + 36 * len(bars)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{h}" viewBox="0 0 {W} {h}" role="img" '
           f'aria-label="memory use vs board">']
    for i, (name, used, total) in enumerate(bars):
        y = 10 + 36 * i
        frac = used / total if total else 0.0
        bw = (W - 260) * min(frac, 1.0)
        color = "#4878a8" if frac <= 1.0 else "#c03030"
        out.append(f'<text x="4" y="{y + 17}" font-size="12">{_e(name)}</text>')
        out.append(f'<rect x="60" y="{y}" width="{W - 260}" height="24" fill="#eee" stroke="#999"/>')
        out.append(f'<rect class="used" x="60" y="{y}" width="{bw:.1f}" height="24" fill="{color}"/>')
        out.append(f'<text x="{W - 192}" y="{y + 17}" font-size="11">{used:,} / {total:,} B '
                   f'({100 * frac:.1f} %)</text>')
    out.append("</svg>")
    return "\n".join(out)


CSS = """body{font-family:system-ui,sans-serif;max-width:960px;margin:24px auto;color:#222}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:4px 10px;text-align:left}
th{background:#f3f3f3}h2{margin-top:28px;border-bottom:1px solid #ddd}.ok{color:#207020}.bad{color:#b02020}
figure{margin:8px 0}figcaption{font-size:13px;color:#555}"""


def render(v: Validation) -> str:
    m = v.metrics
    dev = v.device
    verdict_ok = m.bit_exact == m.samples
    rows = "".join(f"<tr><th>{_e(k)}</th><td>{_e(val)}</td></tr>" for k, val in summary_rows(v))
    dev_rows = "".join(f"<tr><th>{_e(k)}</th><td>{_e(val)}</td></tr>" for k, val in [
        ("board", dev.get("board")), ("engine", dev.get("engine")), ("model", dev.get("model")),
        ("sha256", dev.get("sha256")), ("input", _tensor(dev.get("input"))), ("output", _tensor(dev.get("output"))),
        ("arena", f"{dev.get('arena_bytes')} B"), ("port", v.port), ("data", v.data)])
    parts = [f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
             f"<title>tinyml validate: {_e(dev.get('model'))} on {_e(dev.get('board'))}</title>"
             f"<style>{CSS}</style></head><body>",
             f"<h1>tinyml validate: {_e(dev.get('model'))} on {_e(dev.get('board'))}</h1>",
             f'<p id="verdict" class="{"ok" if verdict_ok else "bad"}">'
             f"{m.bit_exact} of {m.samples} outputs bit-exact with the TFLM host interpreter.</p>",
             f'<table id="metrics">{rows}</table>',
             f"<h2>Device</h2><table>{dev_rows}</table>"]
    if m.confusion is not None:
        rl = "label" if m.accuracy_device is not None else "reference class"
        parts.append(f'<h2>Confusion matrix</h2><figure id="confusion">{confusion_svg(m.confusion, rl, "device class")}'
                     f"<figcaption>rows: {_e(rl)}, columns: the device's class</figcaption></figure>")
    if v.diff_q:
        parts.append('<h2>Error vs reference</h2><figure id="error-histogram">'
                     + histogram_svg(v.diff_q, "device - reference", "device - reference (quantization steps)",
                                     integer=True) + "<figcaption>per output element</figcaption></figure>")
    else:
        parts.append('<h2>Error vs reference</h2><figure id="error-histogram">'
                     + histogram_svg(v.abs_err, "|device - reference|", "|device - reference|")
                     + "<figcaption>per output element</figcaption></figure>")
    parts.append('<h2>Latency</h2><figure id="latency">' + line_svg(v.latency_us, "latency", "sample", "us")
                 + "<figcaption>device time per inference (device clock)</figcaption></figure>")
    parts.append('<h2>Memory vs board</h2><figure id="memory">' + memory_svg(v.memory)
                 + "<figcaption>flash and RAM as planned for the board (tinyml.json; runtime flash is an "
                   "estimate)</figcaption></figure>")
    if m.notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{_e(n)}</li>" for n in m.notes) + "</ul>")
    parts.append(f"<p style=\"color:#888;font-size:12px\">tinyml {_e(__version__)}, model sha256 "
                 f"{_e(dev.get('sha256'))}</p></body></html>\n")
    return "\n".join(parts)


def _tensor(t: Any) -> str:
    if not isinstance(t, dict):
        return "?"
    shape = "x".join(str(d) for d in t.get("shape", []))
    return f"{t.get('dtype')} [{shape}] scale {t.get('scale'):.6g} zero point {t.get('zero_point')}"
