"""Throughput of `tinyml validate` against the raw capacity of the same serial link.

For each board: generate + flash the model (virtual boards start QEMU), then on the same port
  1. sink:  host -> device raw bytes/s (the device swallows N bytes, protocol 'E' mode 1),
  2. echo:  raw bytes/s with both directions loaded (the device echoes N bytes),
  3. validate's own loop (DeviceClient.infer_many) over the data, window 1, 2 and 4.
Each quantity is the best of --rounds interleaved runs. Utilisation (wire) = samples/s x
request-frame bytes / sink bytes/s: the share of the host->device capacity that validate turns
into request frames (the busy direction: 76-100 bytes in, 41 out per digits sample). Utilisation
(payload) counts the raw input bytes only. Requests go base64 ('I') and binary ('J').

    .venv/bin/python bench/link_throughput.py --model digits.tflite --data val.npz \
        --board qemu-mps2-an386 --board qemu-lm3s6965evb [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def tinyml(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "tinyml", *args], check=True, cwd=ROOT, capture_output=True, text=True)


def measure(url: str, x: np.ndarray, sink_bytes: int, echo_bytes: int, rounds: int) -> dict[str, object]:
    """Best of ``rounds`` interleaved measurements of each quantity: on a shared (CI) machine the
    emulator gets descheduled now and then, which only ever makes a number worse."""
    from tinyml.serial import codec
    from tinyml.serial.client import DeviceClient

    out: dict[str, object] = {"url": url}
    with DeviceClient.open(url, timeout=30) as c:
        h = c.hello()
        out["board"], out["model"] = h.board, h.model
        raw = [np.ascontiguousarray(s).tobytes() for s in x]
        frame = {"base64": len(codec.encode_frame("I", 0, raw[0])),  # the host ends frames with LF only
                 "binary": len(codec.encode_binary_frame("J", 0, raw[0]))}
        resp = len(codec.encode_frame("R", 0, bytes(10 + h.output.nbytes))) + 1  # the device ends with CRLF
        out["request_bytes"], out["reply_bytes"], out["input_bytes"] = frame, resp, h.input.nbytes
        c.infer_many(raw[:10], window=2)  # warm up (QEMU translates code on first use)
        sink, echo = [], []
        configs = [(enc, w) for enc in ("base64", "binary") for w in (1, 2, 4)]
        sps: dict[tuple[str, int], list[float]] = {k: [] for k in configs}
        device_us: list[int] = []
        for _ in range(rounds):
            sink.append(sink_bytes / c.sink(sink_bytes))
            n = echo_bytes // 256 * 256
            echo.append(n / c.echo(bytes(range(256)) * (n // 256)))
            for enc, w in configs:
                c.use_binary = enc == "binary"
                t0 = time.monotonic()
                res = c.infer_many(raw, window=w)
                sps[(enc, w)].append(len(res) / (time.monotonic() - t0))
                device_us += [r.us for r in res]
        cap = max(sink)
        out["sink_Bps"], out["echo_Bps"] = cap, max(echo)
        out["sink_Bps_all"], out["echo_Bps_all"] = sink, echo
        out["validate"] = [{"encoding": enc, "window": w, "samples_per_s": max(v), "samples_per_s_all": v,
                            "utilisation": max(v) * frame[enc] / cap,
                            "payload_utilisation": max(v) * h.input.nbytes / cap,
                            "device_us_median": float(np.median(device_us))} for (enc, w), v in sps.items()]
        out["link"] = c.stats.to_dict()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--board", action="append", default=[])
    ap.add_argument("--port", help="measure an already running device instead (no generate/flash)")
    ap.add_argument("--samples", type=int, default=150)
    ap.add_argument("--sink-bytes", type=int, default=20000)
    ap.add_argument("--echo-bytes", type=int, default=8192)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()

    from tinyml.model import tflite
    from tinyml.model.data import load_data
    from tinyml.serial.validate import prepare_inputs

    model = tflite.load(a.model)
    x = prepare_inputs(model, load_data(a.data).x, str(a.data))[: a.samples]
    results = []
    if a.port:
        results.append(measure(a.port, x, a.sink_bytes, a.echo_bytes, a.rounds))
    with tempfile.TemporaryDirectory(prefix="tinyml-bench-") as tmp:
        for board in a.board:
            proj = Path(tmp) / board
            tinyml("generate", str(a.model.resolve()), "-b", board, "-o", str(proj))
            tinyml("flash", str(proj))
            try:
                url = (proj / ".tinyml" / "port").read_text().strip()
                results.append(measure(url, x, a.sink_bytes, a.echo_bytes, a.rounds))
            finally:
                tinyml("stop", str(proj))
    print("| board | sink B/s | echo B/s | request | window | samples/s | utilisation (wire) | "
          "utilisation (payload) | device us |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        for v in r["validate"]:  # type: ignore[attr-defined]
            print(f"| {r['board']} | {r['sink_Bps']:.0f} | {r['echo_Bps']:.0f} "
                  f"| {v['encoding']} {r['request_bytes'][v['encoding']]} B | {v['window']} "  # type: ignore[index]
                  f"| {v['samples_per_s']:.1f} | {v['utilisation']:.2f} | {v['payload_utilisation']:.2f} "
                  f"| {v['device_us_median']:.0f} |")
    if a.json:
        a.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
