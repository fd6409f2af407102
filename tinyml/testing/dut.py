"""``Dut``: one device under test, as a HIL test sees it (the ``dut`` fixture of the pytest plugin).

Built on tinyml's own protocol client (``tinyml/serial/client.py``): it already speaks the
framed protocol with sequence numbers and CRCs, and opens any pyserial URL (a device path,
``socket://``, ``rfc2217://``). On top of it a ``Dut`` adds what a test needs:

- ``banner``: the device's hello (model hash, engine, tensors, arena);
- ``infer(x)`` / ``infer_many(xs)``: float inputs are quantized with the banner's scale and
  zero point, outputs come back as numpy arrays; requests whose replies get lost or damaged are
  asked again (counted in ``stats``), never guessed;
- ``stream(n)``: ``n`` results the device computes on its own stored samples;
- ``expect(pattern, timeout)``: wait for a text line (MLPerf replies, user prints);
- ``reference(x)``: the TFLM host interpreter on the same input, for bit-exact checks;
- ``log``: every byte in and out as readable lines (``>`` to the device, ``<`` from it), which
  the plugin attaches to the report of a failing test.
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinyml.errors import ErrorKind, TinymlError
from tinyml.serial import codec
from tinyml.serial.client import DeviceClient, DeviceEvent

_BINARY_FRAME = re.compile(rb"^@J([0-9a-f]{4})(.*)\*([0-9a-fA-F]{4})$", re.S)
LOG_LINES = 50_000  # lines kept in memory per device (a soak writes more; the oldest go first)


class SerialLog:
    """Every byte on the link, split into readable lines with a time stamp and a direction."""

    def __init__(self, limit: int = LOG_LINES):
        self._lines: deque[str] = deque(maxlen=limit)
        self._count = 0  # lines ever written (positions survive the deque dropping old lines)
        self._partial = {">": bytearray(), "<": bytearray()}
        self._t0 = time.monotonic()
        self._lock = threading.Lock()
        self.binary_payload = 0  # input bytes of a raw 'J' frame, once the hello said

    @staticmethod
    def _readable(raw: bytes) -> str:
        return "".join(chr(b) if 32 <= b < 127 else f"\\x{b:02x}" for b in raw)

    def _add(self, direction: str, raw: bytes) -> None:
        m = _BINARY_FRAME.match(raw)
        # a raw-payload input frame: its bytes as hex, not as a wall of escapes
        text = (f"@J{m.group(1).decode()}[{len(m.group(2))} bytes: {m.group(2).hex(' ')}]*{m.group(3).decode()}"
                if m else self._readable(raw))
        self._lines.append(f"{time.monotonic() - self._t0:9.3f} {direction} {text}")
        self._count += 1

    def record(self, direction: str, data: bytes) -> None:
        with self._lock:
            buf = self._partial[direction]
            buf += data
            while True:
                if direction == ">" and self.binary_payload and buf.startswith(b"@J"):
                    # a raw input frame may hold line ends: its length is known, cut there
                    total = 11 + self.binary_payload + 1
                    if len(buf) < total:
                        break
                    self._add(direction, bytes(buf[:total - 1]))
                    del buf[:total]
                    continue
                m = re.search(rb"\r?\n|%", buf)  # frames end in a line end, MLPerf commands in '%'
                if m is None:
                    break
                self._add(direction, bytes(buf[:m.end() if buf[m.start():m.end()] == b"%" else m.start()]))
                del buf[:m.end()]
            if len(buf) > 512:  # no line end in sight (binary echo data): log it in pieces
                self._add(direction, bytes(buf))
                buf.clear()

    def note(self, text: str) -> None:
        """A line from the host side (what it concluded), marked with '#'."""
        with self._lock:
            self._lines.append(f"{time.monotonic() - self._t0:9.3f} # {text}")
            self._count += 1

    @property
    def position(self) -> int:
        return self._count

    def text(self, since: int = 0, max_lines: int = 400) -> str:
        with self._lock:
            for d, buf in self._partial.items():
                if buf:  # an unfinished line is part of the story (a hang mid-frame)
                    self._add(d, bytes(buf) + b" [no line end yet]")
                    buf.clear()
            first_kept = self._count - len(self._lines)
            start = max(since, first_kept)
            lines = list(self._lines)[start - first_kept:]
        head = []
        if since < first_kept:
            head.append(f"... {first_kept - since} earlier lines no longer kept")
        if len(lines) > max_lines:
            head.append(f"... {len(lines) - max_lines} lines omitted")
            lines = lines[-max_lines:]
        return "\n".join(head + lines)


class LoggedPort:
    """A pyserial port whose traffic goes to a ``SerialLog``."""

    def __init__(self, port: Any, log: SerialLog):
        self._port = port
        self.log = log

    def write(self, data: bytes) -> int | None:
        self.log.record(">", bytes(data))
        n: int | None = self._port.write(data)
        return n

    def read(self, n: int = 1) -> bytes:
        data = bytes(self._port.read(n))
        if data:
            self.log.record("<", data)
        return data

    @property
    def in_waiting(self) -> int:
        return int(self._port.in_waiting)

    def close(self) -> None:
        self._port.close()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._port, name)
        if name == "_socket" and attr is not None:
            # the client reads pyserial's socket:// directly (its in_waiting says only 0 or 1)
            return _LoggedSocket(attr, self.log)
        return attr


class _LoggedSocket:
    def __init__(self, sock: Any, log: SerialLog):
        self._sock = sock
        self._log = log

    def recv(self, n: int, *args: Any) -> bytes:
        data = bytes(self._sock.recv(n, *args))
        if data:
            self._log.record("<", data)
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


@dataclass(frozen=True)
class Inference:
    output: np.ndarray  # the output tensor, in its dtype (int8, or float32 with float I/O)
    us: int
    cycles: int
    req: int = 0

    @property
    def label(self) -> int:
        return int(np.argmax(self.output))


@dataclass
class StreamRun:
    samples: list[codec.StreamSample]
    requested: int
    missing: list[int]  # stream indices that never arrived intact
    corrupt: int  # damaged lines seen while streaming

    @property
    def received(self) -> int:
        return len(self.samples)


@dataclass
class DutStats:
    requests: int = 0
    accepted: int = 0
    retried_batches: int = 0
    link: dict[str, int] = field(default_factory=dict)


class DutError(TinymlError):
    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message, hint=hint, kind=ErrorKind.DEVICE)


class Dut:
    """One connected device. ``Dut.open(url)``; the plugin also passes the project it flashed."""

    def __init__(self, url: str, *, project: Path | None = None, board: str | None = None, baud: int = 115200,
                 timeout: float = 10.0, name: str | None = None,
                 restart: Callable[[], str] | None = None):
        self.url = url
        self.project = Path(project) if project else None
        self.board = board
        self.baud = baud
        self.timeout = timeout
        self.name = name or board or url
        self.log = SerialLog()
        self._restart = restart
        self._client: DeviceClient | None = None
        self._banner: codec.Hello | None = None
        self.stats = DutStats()
        self._model_raw: bytes | None = None

    # ------------------------------------------------------------------ connection

    @classmethod
    def open(cls, url: str, **kw: Any) -> Dut:
        d = cls(url, **kw)
        d.connect()
        return d

    def connect(self, attempts: int = 3) -> codec.Hello:
        """Open the port and ask for the hello (a board that just booted may miss the first ask)."""
        from tinyml.serial.ports import open_port

        self.close()
        self.log.note(f"open {self.url}")
        self._client = DeviceClient(LoggedPort(open_port(self.url, self.baud), self.log), url=self.url,
                                    timeout=self.timeout)
        self._banner = self._client.hello(timeout=self.timeout, attempts=attempts)
        self.log.binary_payload = self._banner.input.nbytes
        self.log.note(f"hello: model={self._banner.model} sha256={self._banner.sha256[:16]}... "
                      f"engine={self._banner.engine} board={self._banner.board}")
        return self._banner

    def reconnect(self, attempts: int = 5, timeout: float | None = None) -> bool:
        """Close and open the port again. Returns True when the device was reset meanwhile
        (its uptime went back, or it sent a boot banner)."""
        before = self._banner
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        err: TinymlError | None = None
        while True:
            try:
                after = self.connect(attempts=attempts)
                break
            except TinymlError as exc:
                err = exc
                if time.monotonic() > deadline:
                    raise DutError(f"{self.name}: could not reconnect to {self.url}: {err.message}") from exc
                time.sleep(0.2)
        reset = before is None or after.uptime_us < before.uptime_us or (self.client.stats.resets > 0)
        self.log.note(f"reconnected ({'device was reset' if reset else 'same session'})")
        return reset

    def restart_board(self) -> bool:
        """Reset the device (virtual boards: restart the emulator, which may move its port), then
        reconnect. Returns what ``reconnect`` says."""
        if self._restart is None:
            raise DutError(f"{self.name}: this target cannot be reset from the host",
                           hint="virtual boards can; a real board needs a reset line (not wired here)")
        self.close()
        self.log.note("restarting the board")
        self.url = self._restart()
        return self.reconnect(timeout=max(self.timeout, 20.0))

    def close(self) -> None:
        if self._client is not None:
            self.stats.link = self._link_totals()
            self._client.close()
            self._client = None

    def __enter__(self) -> Dut:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def client(self) -> DeviceClient:
        """The protocol client underneath (raw frames, MLPerf commands)."""
        if self._client is None:
            self.connect()
        assert self._client is not None
        return self._client

    @property
    def banner(self) -> codec.Hello:
        if self._banner is None:
            self.connect()
        assert self._banner is not None
        return self._banner

    def _link_totals(self) -> dict[str, int]:
        totals = dict(self.stats.link)
        if self._client is not None:
            for k, v in self._client.stats.to_dict().items():
                totals[k] = totals.get(k, 0) + v
        return totals

    @property
    def link_stats(self) -> dict[str, int]:
        """Counters of the link since the Dut was made (frames, corrupt, lost, resets, retries...)."""
        current = self._client.stats.to_dict() if self._client is not None else {}
        return {k: self.stats.link.get(k, 0) + current.get(k, 0) for k in set(self.stats.link) | set(current)}

    # ------------------------------------------------------------------ model checks

    def check_model(self, sha256: str, what: str = "the project") -> None:
        """Fail clearly when the device runs another model than ``sha256``."""
        got = self.banner.sha256.lower()
        want = sha256.lower()
        if not (got and want and (got.startswith(want) or want.startswith(got))):
            raise DutError(f"{self.name} runs model '{self.banner.model}' (sha256 {got[:16]}...), but {what} "
                           f"expects sha256 {want[:16]}...",
                           hint="flash the project (drop --tinyml-no-flash) or pass the project that is on the board")

    def model_bytes(self) -> bytes:
        if self._model_raw is None:
            if self.project is None or not (self.project / "model.tflite").is_file():
                raise DutError(f"{self.name}: no model file to compute the reference with",
                               hint="pass --tinyml-project (a generated project or a .tflite)")
            self._model_raw = (self.project / "model.tflite").read_bytes()
        return self._model_raw

    # ------------------------------------------------------------------ inputs and outputs

    def to_input(self, x: Any) -> bytes:
        """The raw input tensor for ``x``: bytes as they are; an array in the input dtype as its
        bytes; floats into an int8 input quantized like TFLite's QUANTIZE (half away from zero)."""
        if isinstance(x, bytes | bytearray | memoryview):
            raw = bytes(x)
        else:
            info = self.banner.input
            arr = np.asarray(x)
            if info.dtype == "int8" and arr.dtype != np.int8:
                if not np.issubdtype(arr.dtype, np.floating):
                    raise DutError(f"input of dtype {arr.dtype} for an int8 model",
                                   hint="pass float values (they are quantized) or int8")
                from tinyml.model.reference import round_half_away

                q = round_half_away(arr.astype(np.float32) / np.float32(info.scale)) + info.zero_point
                arr = np.clip(q, -128, 127).astype(np.int8)
            elif info.dtype == "float32":
                arr = arr.astype(np.float32)
            raw = np.ascontiguousarray(arr).tobytes()
        if len(raw) != self.banner.input.nbytes:
            raise DutError(f"input has {len(raw)} bytes, the model on {self.name} takes {self.banner.input.nbytes}",
                           hint=f"its input is {self.banner.input.dtype} {self.banner.input.shape}")
        return raw

    def _output(self, raw: bytes) -> np.ndarray:
        info = self.banner.output
        return np.frombuffer(raw, dtype=info.np_dtype).copy()

    def infer(self, x: Any) -> Inference:
        return self.infer_many([x])[0]

    def infer_many(self, xs: Sequence[Any], window: int | None = None, retries: int = 5, batch: int = 64,
                   progress: Callable[[int], None] | None = None,
                   retry_after: float | None = None) -> list[Inference]:
        """Every input on the device, in order. The client re-asks what was damaged or lost; a
        batch that still fails (a reply lost at the very end, a request the device read shorter
        than sent) is sent again whole, up to ``retries`` times. A reply is used only when its
        frame passed the CRC and names the request it answers."""
        raws = [self.to_input(x) for x in xs]
        c = self.client
        win = window if window is not None else c.auto_window() if hasattr(c, "auto_window") else 2
        out: list[Inference] = []
        for start in range(0, len(raws), batch):
            chunk = raws[start:start + batch]
            for attempt in range(retries + 1):
                self.stats.requests += len(chunk)
                try:
                    res = c.infer_many(chunk, window=win, retries=retries, retry_after=retry_after)
                    break
                except TinymlError as exc:
                    if attempt == retries or "rejected sample" in exc.message and "length" not in exc.message:
                        raise DutError(f"{self.name}: {exc.message}", hint=exc.hint) from exc
                    self.stats.retried_batches += 1
                    self.log.note(f"batch at {start} failed ({exc.message}); sending it again")
                    c.drain(0.3)
            out += [Inference(self._output(r.output), r.us, r.cycles, r.req) for r in res]
            self.stats.accepted += len(res)
            if progress:
                progress(len(out))
        return out

    def stream(self, n: int, period_us: int = 0, timeout: float | None = None,
               on_sample: Callable[[codec.StreamSample], None] | None = None) -> StreamRun:
        """``n`` results streamed by the device from its stored samples (back to back unless
        ``period_us``). Damaged or missing results are counted, never used."""
        c = self.client
        c.drain(0.05)
        corrupt0 = c.stats.corrupt
        limit = timeout if timeout is not None else self.timeout
        # The start request is sent here, not through client.stream_start: on a damaged link its
        # ack may never arrive although the samples do (they prove the start), or the request
        # itself may be rejected (then it is sent again).
        payload = codec.stream_payload(period_us, n)
        req = c.send(codec.STREAM, payload)
        started, starts = False, 1
        got: dict[int, codec.StreamSample] = {}
        last = time.monotonic()
        while True:
            evs = c.poll(0.2)
            for ev in evs:
                if ev.kind == "sample":
                    started = True
                    s: codec.StreamSample = ev.data
                    if s.index < n and s.index not in got:
                        got[s.index] = s
                        if on_sample:
                            on_sample(s)
                elif ev.kind == "ack" and ev.data.req == req:
                    if ev.data.ok:
                        started = True
                    elif ev.data.name in ("crc", "encoding", "overlong") and starts < 4:
                        req, starts = c.send(codec.STREAM, payload), starts + 1
                    else:
                        raise DutError(f"{self.name} refused the stream: {ev.data.name}: {ev.data.message}")
                elif ev.kind == "reset":
                    self.log.note("device reset while streaming")
                    raise DutError(f"{self.name} was reset while streaming ({len(got)} of {n} results)")
            if not started and not evs and time.monotonic() - last > min(limit, 2.0) and starts < 4:
                req, starts, last = c.send(codec.STREAM, payload), starts + 1, time.monotonic()
            if evs:
                last = time.monotonic()
            if n - 1 in got or len(got) >= n:
                break
            if time.monotonic() - last > limit:
                break
        missing = [i for i in range(n) if i not in got]
        if missing and n - 1 not in got:
            # the end never came (or was damaged): make sure the device is not still streaming.
            # Not waiting for the ack: on a damaged link it may be lost too.
            c.send(codec.STOP)
            c.drain(0.2)
        return StreamRun([got[i] for i in sorted(got)], n, missing, c.stats.corrupt - corrupt0)

    def stored_samples(self) -> np.ndarray:
        """The inputs the firmware streams (``include/samples.h`` of the project), one row each."""
        if self.project is None:
            raise DutError(f"{self.name}: no project, so its stored samples are unknown",
                           hint="pass --tinyml-project")
        path = self.project / "include" / "samples.h"
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise DutError(f"cannot read {path}: {exc.strerror}", hint="regenerate the project") from exc
        body = text.split("tinyml_samples", 1)[-1]
        rows = [bytes(int(v) for v in row.split(",") if v.strip()) for row in re.findall(r"\{([-0-9,\s]+)\}", body)]
        info = self.banner.input
        if not rows or any(len(r) != info.nbytes for r in rows):
            raise DutError(f"{path} does not hold {info.nbytes}-byte samples", hint="regenerate the project")
        return np.stack([np.frombuffer(r, dtype=info.np_dtype) for r in rows])

    def reference(self, x: Any) -> np.ndarray:
        """What the TFLM host interpreter outputs for the one input ``x`` (flat, output dtype)."""
        return self.reference_many([x])[0]

    def reference_many(self, xs: Sequence[Any]) -> np.ndarray:
        """The TFLM host interpreter on every input: one flat output row each (one child process)."""
        from tinyml.model.reference import run_reference

        info = self.banner.input
        raws = [self.to_input(v) for v in xs]
        arr = np.stack([np.frombuffer(r, dtype=info.np_dtype).reshape(info.shape[1:] or (1,)) for r in raws])
        y = run_reference(self.model_bytes(), arr)
        return y.reshape(len(raws), -1)

    # ------------------------------------------------------------------ text

    def write(self, data: bytes | str) -> None:
        self.client.write(data.encode() if isinstance(data, str) else data)

    def expect(self, pattern: str | re.Pattern[str], timeout: float = 5.0) -> re.Match[str]:
        """Wait for a text line matching ``pattern`` (re.search); earlier lines are skipped (they
        stay in the log). A timeout fails with the lines that did arrive."""
        rx = re.compile(pattern) if isinstance(pattern, str) else pattern
        seen: list[str] = []
        deadline = time.monotonic() + timeout
        c = self.client
        while True:
            batch = c.poll(min(0.2, max(0.0, deadline - time.monotonic())))
            for k, ev in enumerate(batch):
                if ev.kind == "text":
                    m = rx.search(ev.data)
                    if m:
                        # what came after the match is for the next expect / poll
                        c._events.extendleft(reversed(batch[k + 1:]))
                        return m
                    seen.append(ev.data)
            if time.monotonic() >= deadline:
                tail = "; ".join(repr(s) for s in seen[-5:]) or "no text lines"
                raise DutError(f"{self.name}: no line matching {rx.pattern!r} within {timeout:g} s (last: {tail})")

    def mlperf(self, command: str, timeout: float = 30.0) -> list[str]:
        return self.client.mlperf(command, timeout=timeout)

    def events(self, quiet: float = 0.2) -> list[DeviceEvent]:
        """Whatever the device said until the line was quiet for ``quiet`` s."""
        return self.client.drain(quiet)
