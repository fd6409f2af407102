"""``tinyml monitor``: a live view of the results a device streams, logged to JSONL / CSV.

The monitor asks the device to stream (``--rate``), shows the latest values, the rate, latency
statistics and link problems, and writes every result (and every link event: reset, lost,
corrupt, reconnect) to the log files. When the port goes away (emulator restarted, board
re-plugged) it reconnects, says so, detects the reset (boot banner, or the device's uptime going
back) and restarts the stream. Ctrl-C ends cleanly with a summary.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinyml.errors import ErrorKind, TinymlError
from tinyml.serial import codec
from tinyml.serial.client import ConnectionLost, DeviceClient, DeviceEvent


@dataclass
class MonitorSummary:
    port: str
    results: int = 0
    seconds: float = 0.0
    lost: int = 0
    corrupt: int = 0
    out_of_order: int = 0
    resets: int = 0
    reconnects: int = 0
    device_errors: int = 0
    latency_us: dict[str, float] | None = None
    interrupted: bool = False
    notices: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.results / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["rate_per_s"] = self.rate
        return d


class _Logs:
    def __init__(self, jsonl: Path | None, csv_path: Path | None, n_out: int):
        self.jsonl = self._open(jsonl)
        self.csv_file = self._open(csv_path)
        self.csv = None
        if self.csv_file is not None:
            self.csv = csv.writer(self.csv_file)
            self.csv.writerow(["time_s", "seq", "index", "sample", "us", "cycles", "top",
                               *[f"q{i}" for i in range(n_out)], *[f"v{i}" for i in range(n_out)]])

    @staticmethod
    def _open(p: Path | None) -> io.TextIOWrapper | None:
        if p is None:
            return None
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            return open(p, "w", encoding="utf-8", newline="")  # noqa: SIM115 - closed in close()
        except OSError as exc:
            raise TinymlError(f"cannot write {p}: {exc.strerror or exc}", hint="pick a writable path",
                              kind=ErrorKind.OUTPUT) from exc

    def result(self, rec: dict[str, Any]) -> None:
        if self.jsonl:
            self.jsonl.write(json.dumps(rec) + "\n")
        if self.csv:
            self.csv.writerow([f"{rec['t']:.4f}", rec["seq"], rec["index"], rec["sample"], rec["us"], rec["cycles"],
                               rec["top"], *rec["output"], *[f"{v:.6g}" for v in rec["values"]]])

    def event(self, rec: dict[str, Any]) -> None:
        if self.jsonl:
            self.jsonl.write(json.dumps(rec) + "\n")
            self.jsonl.flush()

    def flush(self) -> None:
        for f in (self.jsonl, self.csv_file):
            if f:
                f.flush()

    def close(self) -> None:
        for f in (self.jsonl, self.csv_file):
            if f:
                f.close()


class Monitor:
    def __init__(self, url: str, *, baud: int = 115200, rate_hz: float = 10.0, start: bool = True,
                 labels: list[str] | None = None, reconnect_wait: float = 60.0, timeout: float = 5.0,
                 say: Callable[[str], None] | None = None, resolve: Callable[[], str] | None = None):
        self.url = url
        # where to look again after a disconnect (a virtual board restarted on another TCP port)
        self.resolve = resolve
        self.baud = baud
        self.rate_hz = rate_hz
        self.start = start
        self.labels = labels
        self.reconnect_wait = reconnect_wait
        self.timeout = timeout
        self.say = say or (lambda _m: None)
        self.client: DeviceClient | None = None
        self.hello: codec.Hello | None = None
        self.summary = MonitorSummary(url)
        self.latest: dict[str, Any] | None = None
        self.latencies: deque[int] = deque(maxlen=10000)
        self.times: deque[float] = deque(maxlen=200)
        self.text: deque[str] = deque(maxlen=5)
        self._last_uptime = -1
        self._t0 = time.monotonic()
        self._logs: _Logs | None = None

    # -------------------------------------------------------------- connection

    def connect(self, first: bool) -> None:
        from tinyml.serial.ports import open_port

        port = open_port(self.url, self.baud)
        if self.client is None:
            self.client = DeviceClient(port, url=self.url, timeout=self.timeout)
        else:
            # keep counters and sequence tracking across the reconnect
            self.client.port = port
            self.client.decoder = codec.Decoder()
            self.client.tracker.resync = True
        resets = self.client.stats.resets
        hello = self.client.hello()
        if not first and self.client.stats.resets > resets:
            self._notice("reset", "the device was reset (boot banner seen)", self._logs)
        elif not first and hello.uptime_us < self._last_uptime:
            # the boot banner came before we reopened the port
            self.client.stats.resets += 1
            self._notice("reset", "the device was reset (its uptime went back)", self._logs)
        self._set_hello(hello)
        if self.start:
            self.client.stream_start(int(1e6 / self.rate_hz) if self.rate_hz > 0 else 0, 0)

    def _set_hello(self, hello: codec.Hello) -> None:
        self.hello = hello
        self._last_uptime = hello.uptime_us

    def _reconnect(self, logs: _Logs, deadline: float | None) -> bool:
        assert self.client is not None
        self.client.close()
        self.summary.reconnects += 1
        self._notice("disconnected", f"lost the connection to {self.url}; reconnecting", logs)
        give_up = time.monotonic() + self.reconnect_wait
        while True:
            if deadline is not None and time.monotonic() >= deadline:
                return False
            try:
                if self.resolve is not None:
                    self.url = self.resolve()
                self.connect(first=False)
                self._notice("reconnected", f"reconnected to {self.url}", logs)
                return True
            except TinymlError:
                if time.monotonic() >= give_up:
                    raise TinymlError(f"{self.url} did not come back within {self.reconnect_wait:g} s",
                                      hint="restart the device or the emulator", kind=ErrorKind.DEVICE) from None
                time.sleep(0.3)

    def _notice(self, kind: str, message: str, logs: _Logs | None = None) -> None:
        t = time.monotonic() - self._t0
        self.summary.notices.append(f"{t:7.2f}s {message}")
        self.say(message)
        if logs is not None:
            logs.event({"t": round(t, 4), "event": kind, "message": message})

    # -------------------------------------------------------------- events

    def _handle(self, ev: DeviceEvent, logs: _Logs) -> None:
        assert self.client is not None
        if ev.kind == "sample" and self.hello is not None:
            s: codec.StreamSample = ev.data
            out = self.hello.output
            q = np.frombuffer(s.output, dtype=out.np_dtype)
            vals = out.dequantize(q)
            top = int(np.argmax(vals)) if vals.size > 1 else -1
            rec = {"t": round(ev.time - self._t0, 4), "seq": ev.seq, "index": s.index, "sample": s.sample,
                   "us": s.us, "cycles": s.cycles, "output": q.astype(int).tolist(),
                   "values": [float(v) for v in vals], "top": top}
            if top >= 0 and self.labels and top < len(self.labels):
                rec["label"] = self.labels[top]
            logs.result(rec)
            self.latest = rec
            self.latencies.append(s.us)
            self.times.append(ev.time)
            self.summary.results += 1
        elif ev.kind == "reset":
            self._set_hello(ev.data)
            self._notice("reset", "the device was reset (boot banner seen)", logs)
            if self.start:
                self.client.stream_start(int(1e6 / self.rate_hz) if self.rate_hz > 0 else 0, 0)
        elif ev.kind == "hello":
            self._set_hello(ev.data)
        elif ev.kind == "lost":
            self._notice("lost", f"frames lost (total {ev.data})", logs)
        elif ev.kind == "corrupt":
            self._notice("corrupt", f"corrupt line from the device: {ev.data}", logs)
        elif ev.kind == "out-of-order":
            self._notice("out-of-order", f"frame {ev.data} out of order", logs)
        elif ev.kind == "ack" and not ev.data.ok:
            self._notice("device-error", f"device error {ev.data.name}: {ev.data.message}", logs)
        elif ev.kind == "text":
            self.text.append(ev.data)

    def run(self, *, jsonl: Path | None = None, csv_path: Path | None = None, count: int | None = None,
            duration: float | None = None, refresh: Callable[[Monitor], None] | None = None) -> MonitorSummary:
        self._t0 = time.monotonic()
        deadline = None if duration is None else self._t0 + duration
        self.connect(first=True)
        assert self.client is not None and self.hello is not None
        logs = _Logs(jsonl, csv_path, self.hello.output.nbytes // (4 if self.hello.output.dtype == "float32" else 1))
        logs.event({"t": 0.0, "event": "hello", "device": self.hello.to_dict()})
        self._logs = logs
        last_refresh = 0.0
        try:
            while True:
                if count is not None and self.summary.results >= count:
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    break
                try:
                    for ev in self.client.poll(0.1):
                        self._handle(ev, logs)
                        if count is not None and self.summary.results >= count:
                            break
                except ConnectionLost:
                    if not self._reconnect(logs, deadline):
                        break
                if refresh and time.monotonic() - last_refresh > 0.25:
                    refresh(self)
                    last_refresh = time.monotonic()
                    logs.flush()
        except KeyboardInterrupt:
            self.summary.interrupted = True
        finally:
            if self.start and self.client is not None:
                with contextlib.suppress(TinymlError, KeyboardInterrupt):
                    self.client.stream_stop()
            self.client.close()
            self._finish()
            logs.event({"t": round(time.monotonic() - self._t0, 4), "event": "summary",
                        "summary": self.summary.to_dict()})
            logs.close()
        return self.summary

    def _finish(self) -> None:
        assert self.client is not None
        st = self.client.stats
        self.summary.seconds = time.monotonic() - self._t0
        self.summary.port = self.url
        self.summary.lost = st.lost
        self.summary.corrupt = st.corrupt
        self.summary.out_of_order = st.out_of_order
        self.summary.resets = st.resets
        self.summary.device_errors = st.device_errors
        if self.latencies:
            v = np.asarray(self.latencies, dtype=np.float64)
            self.summary.latency_us = {"min": float(v.min()), "median": float(np.median(v)), "max": float(v.max())}

    # -------------------------------------------------------------- view

    def current_rate(self) -> float:
        if len(self.times) < 2:
            return 0.0
        span = self.times[-1] - self.times[0]
        return (len(self.times) - 1) / span if span > 0 else 0.0

    def view(self) -> Any:
        from rich.table import Table

        t = Table(title=f"tinyml monitor  {self.url}", show_header=False, expand=False)
        t.add_column("what", style="bold")
        t.add_column("value")
        h = self.hello
        if h is not None:
            t.add_row("device", f"{h.model} ({h.engine}) on {h.board}")
        t.add_row("results", f"{self.summary.results}  ({self.current_rate():.1f}/s)")
        if self.latest is not None:
            vals = self.latest["values"]
            if len(vals) > 1:
                order = np.argsort(vals)[::-1][:3]
                names = [self.labels[i] if self.labels and i < len(self.labels) else str(i) for i in order]
                t.add_row("latest", "  ".join(f"{n}: {vals[i]:.3f}" for n, i in zip(names, order, strict=True)))
            else:
                t.add_row("latest", f"{vals[0]:.4f}" if vals else "-")
        if self.latencies:
            v = np.asarray(self.latencies)
            t.add_row("latency us", f"min {v.min()}  median {np.median(v):.0f}  max {v.max()}")
        if self.client is not None:
            st = self.client.stats
            t.add_row("link", f"lost {st.lost}  corrupt {st.corrupt}  out-of-order {st.out_of_order}  "
                              f"resets {st.resets}  reconnects {self.summary.reconnects}  "
                              f"device errors {st.device_errors}")
        for n in self.summary.notices[-3:]:
            t.add_row("event", n)
        return t
