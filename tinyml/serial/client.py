"""The host side of the tinyml device protocol (docs/protocol.md): a DUT client over any port.

``DeviceClient`` wraps an open pyserial port. It sends framed requests (hello, infer, stream,
echo) and the MLPerf Tiny text commands, and turns everything the device says into
``DeviceEvent``s: frames, text lines, and the problems it detected on the way (corrupt lines,
lost or out-of-order frames, a device reset). Counters in ``stats`` say how many of each, so
callers can report them; nothing is silently dropped.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from tinyml.errors import ErrorKind, TinymlError
from tinyml.serial import codec

log = logging.getLogger("tinyml.serial")


@dataclass
class LinkStats:
    frames: int = 0
    text_lines: int = 0
    corrupt: int = 0
    lost: int = 0
    out_of_order: int = 0
    resets: int = 0
    device_errors: int = 0  # 'A' frames with a non-zero code
    retries: int = 0

    def to_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class DeviceEvent:
    kind: str  # hello result sample ack text corrupt lost out-of-order reset
    data: Any = None
    seq: int | None = None
    time: float = field(default_factory=time.monotonic)


class ConnectionLost(TinymlError):
    def __init__(self, url: str, reason: str):
        super().__init__(f"lost the connection to {url}: {reason}",
                         hint="the device was reset, unplugged or the emulator stopped", kind=ErrorKind.DEVICE)


class DeviceClient:
    def __init__(self, port: Any, url: str = "", timeout: float = 5.0):
        self.port = port
        self.url = url or str(getattr(port, "port", "") or "device")
        self.timeout = timeout
        self.decoder = codec.Decoder()
        self.tracker = codec.SeqTracker()
        self.stats = LinkStats()
        self.hello_info: codec.Hello | None = None
        self._events: deque[DeviceEvent] = deque()
        self._seq = 0
        self.use_binary: bool | None = None  # None: binary input frames when the device offers them

    # ------------------------------------------------------------------ plumbing

    @classmethod
    def open(cls, url: str, baud: int = 115200, timeout: float = 5.0) -> DeviceClient:
        from tinyml.serial.ports import open_port

        return cls(open_port(url, baud), url=url, timeout=timeout)

    def close(self) -> None:
        # closing a dead port must not mask the real error
        with contextlib.suppress(Exception):
            self.port.close()

    def __enter__(self) -> DeviceClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def next_seq(self) -> int:
        s = self._seq
        self._seq = (self._seq + 1) & 0xFFFF
        return s

    def write(self, data: bytes) -> None:
        import serial

        try:
            self.port.write(data)
        except (serial.SerialException, OSError) as exc:
            raise ConnectionLost(self.url, str(exc) or type(exc).__name__) from exc

    def send(self, ftype: str, payload: bytes = b"") -> int:
        seq = self.next_seq()
        self.write(codec.encode_frame(ftype, seq, payload))
        return seq

    def send_input(self, x: bytes) -> int:
        """An inference request: raw ('J') when the device says it understands it, else base64 ('I')."""
        if self.binary_inputs:
            seq = self.next_seq()
            self.write(codec.encode_binary_frame(codec.INFER_BIN, seq, x))
            return seq
        return self.send(codec.INFER, x)

    @property
    def binary_inputs(self) -> bool:
        if self.use_binary is not None:
            return self.use_binary
        return self.hello_info is not None and self.hello_info.fields.get("bin") == "1"

    def _read_some(self) -> bytes:
        import serial

        try:
            first = bytes(self.port.read(1))  # waits up to the port's timeout (50 ms)
            if not first:
                return b""
            # only pyserial's socket:// handler: an rfc2217:// port has a _socket too, but its reader
            # thread owns it (reading it here would steal telnet data and block forever)
            sock = getattr(self.port, "_socket", None) if self.url.startswith("socket://") else None
            if sock is not None:
                # socket:// reports in_waiting as 0/1 only: take what the (non-blocking) socket holds
                try:
                    rest = sock.recv(1 << 16)
                except (BlockingIOError, InterruptedError):
                    rest = b""
                else:
                    if not rest:
                        raise ConnectionLost(self.url, "socket closed by the device side")
                return first + rest
            waiting = self.port.in_waiting
            return first + (bytes(self.port.read(min(waiting, 1 << 16))) if waiting else b"")
        except (serial.SerialException, OSError) as exc:
            raise ConnectionLost(self.url, str(exc) or type(exc).__name__) from exc

    def _waiting(self) -> int:
        try:
            return int(self.port.in_waiting)
        except Exception:  # noqa: BLE001 - a closed port: the next read reports it
            return 0

    def _ingest(self, data: bytes) -> None:
        out_bytes = self.hello_info.output.nbytes if self.hello_info else None
        for ev in self.decoder.feed(data):
            if isinstance(ev, codec.Text):
                self.stats.text_lines += 1
                self._events.append(DeviceEvent("text", ev.line))
            elif isinstance(ev, codec.Corrupt):
                self.stats.corrupt += 1
                log.info("corrupt line from device (%s): %r", ev.reason, ev.raw[:80])
                self._events.append(DeviceEvent("corrupt", ev.reason))
            else:
                self._frame(ev, out_bytes)
                out_bytes = self.hello_info.output.nbytes if self.hello_info else None

    def _frame(self, fr: codec.Frame, out_bytes: int | None) -> None:
        try:
            data: Any
            if fr.type == codec.HELLO:
                data = codec.parse_hello(fr.payload)
                kind = "hello"
            elif fr.type == codec.ACK:
                data = codec.parse_ack(fr.payload)
                kind = "ack"
            elif fr.type in (codec.RESULT, codec.SAMPLE):
                if out_bytes is None:
                    raise codec.PayloadError("a result arrived before the hello (output size unknown)")
                if fr.type == codec.RESULT:
                    data, kind = codec.parse_result(fr.payload, out_bytes), "result"
                else:
                    data, kind = codec.parse_sample(fr.payload, out_bytes), "sample"
            elif fr.type == codec.LAYERS:
                data, kind = codec.parse_layers(fr.payload), "layers"
            else:
                raise codec.PayloadError(f"unknown frame type {fr.type!r}")
        except codec.PayloadError as exc:
            self.stats.corrupt += 1
            self._events.append(DeviceEvent("corrupt", str(exc)))
            self.tracker.check(fr.seq)
            return
        self.stats.frames += 1
        status = self.tracker.check(fr.seq, boot_hello=kind == "hello" and data.boot)
        if status == "lost":
            self.stats.lost = self.tracker.lost
            self._events.append(DeviceEvent("lost", self.tracker.lost, fr.seq))
        elif status == "out-of-order":
            self.stats.out_of_order += 1
            self._events.append(DeviceEvent("out-of-order", fr.seq, fr.seq))
        elif status == "reset":
            self.stats.resets += 1
            self._events.append(DeviceEvent("reset", data, fr.seq))
        if kind == "hello":
            self.hello_info = data
        if kind == "ack" and not data.ok:
            self.stats.device_errors += 1
        self._events.append(DeviceEvent(kind, data, fr.seq))

    def poll(self, timeout: float = 0.0) -> list[DeviceEvent]:
        """Events received so far, reading for at most ``timeout`` s until there is at least one."""
        deadline = time.monotonic() + timeout
        while True:
            data = self._read_some()
            if data:
                self._ingest(data)
                # drain what is already there without waiting (bounded: a device streaming
                # back to back would otherwise keep this loop busy forever)
                budget = 1 << 16
                while budget > 0 and self._waiting():
                    chunk = self._read_some()
                    if not chunk:
                        break
                    budget -= len(chunk)
                    self._ingest(chunk)
            if self._events or time.monotonic() >= deadline:
                break
        out = list(self._events)
        self._events.clear()
        return out

    def events(self, duration: float | None = None) -> Iterator[DeviceEvent]:
        end = None if duration is None else time.monotonic() + duration
        while end is None or time.monotonic() < end:
            yield from self.poll(0.2 if end is None else max(0.0, min(0.2, end - time.monotonic())))

    def _wait(self, match: Callable[[DeviceEvent], bool], what: str, timeout: float | None = None,
              keep: list[DeviceEvent] | None = None) -> DeviceEvent:
        """The first event that matches; ``timeout`` s of silence is an error. While other frames
        keep coming (a stream queued ahead of the reply) it waits up to 4x longer."""
        limit = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        hard = time.monotonic() + 4 * limit
        while True:
            batch = self.poll(min(0.2, max(0.0, deadline - time.monotonic())))
            if batch:
                deadline = min(hard, max(deadline, time.monotonic() + limit / 4))
            for k, ev in enumerate(batch):
                if match(ev):
                    # what came after the reply stays queued for the next poll
                    self._events.extendleft(reversed(batch[k + 1:]))
                    return ev
                if keep is not None:
                    keep.append(ev)
            if time.monotonic() >= deadline:
                raise TinymlError(f"{self.url} did not answer {what} within {limit:g} s",
                                  hint="is the firmware running and built with tinyml's runtime? "
                                       "check the port, the baud rate and that nothing else has it open",
                                  kind=ErrorKind.DEVICE)

    # ------------------------------------------------------------------ requests

    def hello(self, timeout: float | None = None, attempts: int = 3) -> codec.Hello:
        """Ask for the hello banner (retrying: the first bytes after a port open may be lost)."""
        err: TinymlError | None = None
        start = time.monotonic()
        for _ in range(attempts):
            seq = self.send(codec.HELLO)

            def is_reply(e: DeviceEvent, seq: int = seq) -> bool:
                return e.kind == "hello" and e.data.req == seq

            try:
                ev = self._wait(is_reply, "the hello request",
                                timeout if timeout is not None else self.timeout / attempts)
                hello: codec.Hello = ev.data
                if hello.proto != codec.PROTOCOL_VERSION:
                    raise TinymlError(f"the device speaks protocol version {hello.proto}, this tinyml speaks "
                                      f"{codec.PROTOCOL_VERSION}", hint="regenerate and flash the firmware with "
                                      "this tinyml", kind=ErrorKind.UNSUPPORTED)
                return hello
            except TinymlError as exc:
                err = exc
        assert err is not None
        if attempts > 1 and "did not answer" in err.message:
            # the user waited for all the tries, not one: say how long in total
            raise TinymlError(f"{self.url} did not answer the hello request ({attempts} tries in "
                              f"{time.monotonic() - start:.1f} s)", hint=err.hint, kind=err.kind)
        raise err

    def _check_input(self, x: bytes) -> None:
        if self.hello_info is None:
            self.hello()
        assert self.hello_info is not None
        if len(x) != self.hello_info.input.nbytes:
            raise TinymlError(f"input has {len(x)} bytes, the device's model takes {self.hello_info.input.nbytes}",
                              hint="check the data's shape and dtype against the model", kind=ErrorKind.INPUT)

    def auto_window(self) -> int:
        """Requests to keep in flight: what the device's receive buffer holds (hello key ``rx``), or
        4 over ``socket://`` (QEMU and the host port flow-control the socket, so nothing is lost), else 1."""
        hello = self.hello_info or self.hello()
        x = bytes(hello.input.nbytes)
        frame = len(codec.encode_binary_frame(codec.INFER_BIN, 0, x) if self.binary_inputs
                    else codec.encode_frame(codec.INFER, 0, x))
        rx = hello.fields.get("rx")
        if rx is not None and rx.isdigit():
            return max(1, min(8, 1 + int(rx) // frame))  # one being computed + what fits in the buffer
        return 4 if self.url.startswith("socket://") else 1

    def infer(self, x: bytes) -> codec.Result:
        return self.infer_many([x])[0]

    def profile(self, x: bytes) -> tuple[codec.Result, list[int]]:
        """Runs ``x`` once and asks for the per-layer cycles of that inference ('P' frame)."""
        result = self.infer(x)
        seq = self.send(codec.PROFILE)

        def is_reply(e: DeviceEvent, seq: int = seq) -> bool:
            return (e.kind == "layers" and e.data.req == seq) or (e.kind == "ack" and e.data.req == seq)

        ev = self._wait(is_reply, "the per-layer profile request")
        if ev.kind == "ack":
            raise TinymlError(f"the device refused the per-layer profile request: {ev.data.message}",
                              hint="regenerate, build and flash the firmware with this tinyml", kind=ErrorKind.DEVICE)
        return result, list(ev.data.cycles)

    def infer_many(self, inputs: Sequence[bytes], window: int = 2, retries: int = 5,
                   progress: Callable[[int, codec.Result], None] | None = None,
                   retry_after: float | None = None) -> list[codec.Result]:
        """Runs every input on the device, ``window`` requests in flight; results in input order.

        The device answers requests in the order they arrive, so a reply to a later request means
        every earlier one still in flight was lost (its frame damaged beyond recognition on the
        way in, or its reply on the way out): those are sent again. So is a request the device
        rejects for a transmission error (CRC, encoding, overlong), everything in flight after a
        device reset, and everything in flight when nothing has come back for ``retry_after`` s.
        Each resend counts in stats.retries; a sample that needs more than ``retries`` raises, as
        does any other device error and ``timeout`` s without progress. A result is only ever
        taken from a reply whose CRC and request number match: nothing is guessed.
        """
        for x in inputs[:1]:
            self._check_input(x)
        assert self.hello_info is not None
        nbytes = self.hello_info.input.nbytes
        results: list[codec.Result | None] = [None] * len(inputs)
        inflight: dict[int, int] = {}  # request seq -> input index, in sending order
        tries = [0] * len(inputs)
        todo: deque[int] = deque(range(len(inputs)))
        done = 0
        stall = retry_after if retry_after is not None else max(0.25, min(2.0, self.timeout / 4))
        last_progress = last_reply = time.monotonic()

        def resend(indices: list[int], why: str) -> None:
            for i in sorted(indices, reverse=True):
                tries[i] += 1
                if tries[i] > retries:
                    raise TinymlError(f"sample {i}: no valid reply after {retries} retries (last: {why})",
                                      kind=ErrorKind.DEVICE,
                                      hint="the link is too noisy or the device keeps resetting; check the cable "
                                           "and the baud rate, or lower --window")
                self.stats.retries += 1
                todo.appendleft(i)

        def settle(seq: int) -> int:
            """Pops ``seq`` from the requests in flight; those sent before it were lost."""
            earlier: list[int] = []
            for s in list(inflight):
                if s == seq:
                    break
                earlier.append(inflight.pop(s))
            if earlier:
                resend(earlier, "reply missing")
            return inflight.pop(seq)

        while done < len(inputs):
            while todo and len(inflight) < max(1, window):
                i = todo.popleft()
                if len(inputs[i]) != nbytes:
                    self._check_input(inputs[i])
                inflight[self.send_input(inputs[i])] = i
            for ev in self.poll(0.05):
                if ev.kind == "result" and ev.data.req in inflight:
                    i = settle(ev.data.req)
                    results[i] = ev.data
                    done += 1
                    last_progress = last_reply = time.monotonic()
                    if progress:
                        progress(i, ev.data)
                elif ev.kind == "ack" and ev.data.req in inflight and not ev.data.ok:
                    i = settle(ev.data.req)
                    last_reply = time.monotonic()
                    if ev.data.name in ("crc", "encoding", "overlong"):
                        resend([i], f"device reported {ev.data.name}")
                    else:
                        raise TinymlError(f"the device rejected sample {i}: {ev.data.name}: {ev.data.message}",
                                          kind=ErrorKind.DEVICE,
                                          hint="the device is running a different model than expected?"
                                          if ev.data.name == "length" else None)
                elif ev.kind == "reset" and inflight:
                    lost = list(inflight.values())
                    inflight.clear()
                    resend(lost, "device reset")
            now = time.monotonic()
            if inflight and now - last_reply > stall:
                lost = list(inflight.values())
                inflight.clear()
                resend(lost, f"no reply for {stall:g} s")
                last_reply = now
            if now - last_progress > self.timeout:
                raise TinymlError(f"{self.url} did not answer an inference request within {self.timeout:g} s "
                                  f"({done} of {len(inputs)} done)",
                                  hint="the model may take longer than --timeout, or the device hung",
                                  kind=ErrorKind.DEVICE)
        return [r for r in results if r is not None]

    def stream_start(self, period_us: int = 0, count: int = 0) -> None:
        seq = self.send(codec.STREAM, codec.stream_payload(period_us, count))
        self._expect_ack(seq, "the stream start")

    def stream_stop(self) -> None:
        seq = self.send(codec.STOP)
        self._expect_ack(seq, "the stream stop")

    def _expect_ack(self, seq: int, what: str) -> codec.Ack:
        kept: list[DeviceEvent] = []
        ev = self._wait(lambda e: e.kind == "ack" and e.data.req == seq, what, keep=kept)
        # events that arrived meanwhile (stream samples) stay for the caller
        self._events.extendleft(reversed(kept))
        if not ev.data.ok:
            raise TinymlError(f"the device refused {what}: {ev.data.message}", kind=ErrorKind.DEVICE)
        ack: codec.Ack = ev.data
        return ack

    def sink(self, n: int, chunk: int = 4096) -> float:
        """Raw link test, host to device only: the device swallows ``n`` bytes and then says so.
        Returns the seconds from the first byte sent to the device's "done"."""
        seq = self.send(codec.ECHO, n.to_bytes(4, "little") + b"\x01")
        self._expect_ack(seq, "the sink request")
        data = bytes(range(256)) * (chunk // 256 + 1)
        t0 = time.monotonic()
        sent = 0
        while sent < n:
            k = min(chunk, n - sent)
            self.write(data[:k])
            sent += k
        self._wait(lambda e: e.kind == "ack" and e.data.req == seq, "the end of the sink test",
                   max(self.timeout, n / 2000))
        return time.monotonic() - t0

    def echo(self, data: bytes, chunk: int = 4096) -> float:
        """Raw link test: the device echoes ``data`` byte for byte. Returns the seconds it took."""
        seq = self.send(codec.ECHO, len(data).to_bytes(4, "little"))
        self._expect_ack(seq, "the echo request")
        got = bytearray()  # the device echoes only what we send from now on
        t0 = time.monotonic()
        sent = 0
        deadline = t0 + max(self.timeout, len(data) / 2000)
        while len(got) < len(data):
            if sent < len(data):
                self.write(data[sent:sent + chunk])
                sent += min(chunk, len(data) - sent)
            got += self._read_some()
            if time.monotonic() > deadline:
                raise TinymlError(f"echo test: {len(got)} of {len(data)} bytes came back", kind=ErrorKind.DEVICE)
        elapsed = time.monotonic() - t0
        if bytes(got[:len(data)]) != data:
            raise TinymlError("echo test: the bytes that came back differ from those sent", kind=ErrorKind.DEVICE)
        self.decoder.feed(bytes(got[len(data):]))
        return elapsed

    # ------------------------------------------------------------------ MLPerf Tiny text commands

    def mlperf(self, command: str, timeout: float = 30.0) -> list[str]:
        """Send one DUT command (``name``, ``db load 64`` ...) and return its reply lines up to ``m-ready``."""
        self.write(command.encode("ascii") + b"%")
        lines: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            batch = self.poll(min(0.2, max(0.0, deadline - time.monotonic())))
            for k, ev in enumerate(batch):
                if ev.kind == "text":
                    lines.append(ev.data)
                    if "m-ready" in ev.data:
                        self._events.extendleft(reversed(batch[k + 1:]))
                        return lines
                # frames meanwhile (a stream) are not replies; they are counted in stats
            if time.monotonic() >= deadline:
                raise TinymlError(f"{self.url} did not finish replying to '{command}%' within {timeout:g} s "
                                  f"(got {lines!r})", kind=ErrorKind.DEVICE)

    def drain(self, quiet: float = 0.2) -> list[DeviceEvent]:
        """Reads until the line has been quiet for ``quiet`` s; returns what came."""
        out: list[DeviceEvent] = []
        while True:
            got = self.poll(quiet)
            if not got:
                return out
            out += got

