"""A TCP proxy that damages a serial link on purpose: the host talks to the proxy, the proxy to
a virtual board's UART socket (or ser2net, or anything TCP).

Each direction (``up``: host -> device, ``down``: device -> host) has its own rates, drawn per
byte from a seeded RNG, so a run is reproducible from its seed:

- ``drop``: the byte is not forwarded;
- ``corrupt``: the byte is XOR-ed with a random non-zero value;
- ``duplicate``: the byte is forwarded twice;
- ``delay``: everything before the byte is forwarded, then the stream pauses ``delay_s``.

``cut()`` closes the current connection (both sides), as an unplugged cable or a dying
``ser2net`` would; the next client that connects gets a fresh connection to the target.
Counters in ``stats`` say what was done, so a test can relate what it detected to what was
injected.

From a shell::

    python -m tinyml.testing.faultproxy --listen 127.0.0.1:7000 --target 127.0.0.1:5555 \\
        --corrupt 0.01 --drop 0.001 --seed 1
"""

from __future__ import annotations

import argparse
import contextlib
import random
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

DIRECTIONS = ("up", "down")


@dataclass
class Faults:
    """Per-byte probabilities (0..1) for one direction."""

    drop: float = 0.0
    corrupt: float = 0.0
    duplicate: float = 0.0
    delay: float = 0.0
    delay_s: float = 0.01

    def __post_init__(self) -> None:
        rates = (self.drop, self.corrupt, self.duplicate, self.delay)
        if any(not 0.0 <= r <= 1.0 for r in rates) or sum(rates) > 1.0:
            raise ValueError(f"fault rates must be in [0, 1] and sum to at most 1, got {rates}")
        if self.delay_s < 0:
            raise ValueError("delay_s must be >= 0")

    @property
    def active(self) -> bool:
        return (self.drop + self.corrupt + self.duplicate + self.delay) > 0.0


@dataclass
class DirectionStats:
    bytes_in: int = 0
    bytes_out: int = 0
    dropped: int = 0
    corrupted: int = 0
    duplicated: int = 0
    delayed: int = 0

    def to_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class ProxyStats:
    connections: int = 0
    cuts: int = 0
    up: DirectionStats = field(default_factory=DirectionStats)
    down: DirectionStats = field(default_factory=DirectionStats)

    def to_dict(self) -> dict[str, object]:
        return {"connections": self.connections, "cuts": self.cuts, "up": self.up.to_dict(),
                "down": self.down.to_dict()}


class _Damage:
    """Applies one direction's faults to chunks of bytes (one RNG draw per byte: chunking does
    not change which bytes are hit)."""

    def __init__(self, faults: Faults, rng: random.Random, stats: DirectionStats):
        self.faults = faults
        self.rng = rng
        self.stats = stats

    def apply(self, data: bytes) -> list[bytes | float]:
        """The chunk as pieces to send, with pause lengths (floats, seconds) between them."""
        f = self.faults
        self.stats.bytes_in += len(data)
        if not f.active:
            self.stats.bytes_out += len(data)
            return [data]
        t_drop = f.drop
        t_corrupt = t_drop + f.corrupt
        t_dup = t_corrupt + f.duplicate
        t_delay = t_dup + f.delay
        out: list[bytes | float] = []
        cur = bytearray()
        rnd = self.rng.random
        st = self.stats
        for b in data:
            r = rnd()
            if r >= t_delay:
                cur.append(b)
            elif r < t_drop:
                st.dropped += 1
            elif r < t_corrupt:
                cur.append(b ^ self.rng.randrange(1, 256))
                st.corrupted += 1
            elif r < t_dup:
                cur += bytes((b, b))
                st.duplicated += 1
            else:
                if cur:
                    out.append(bytes(cur))
                    cur = bytearray()
                out.append(f.delay_s)
                cur.append(b)
                st.delayed += 1
        if cur:
            out.append(bytes(cur))
        st.bytes_out += sum(len(p) for p in out if isinstance(p, bytes))
        return out


class FaultProxy:
    """``FaultProxy(("127.0.0.1", 5555), down=Faults(corrupt=0.01)).start()``; ``.url`` is the
    ``socket://`` address to give the host. Use as a context manager to stop it."""

    def __init__(self, target: tuple[str, int], *, listen: tuple[str, int] = ("127.0.0.1", 0),
                 up: Faults | None = None, down: Faults | None = None, seed: int = 0,
                 tap: Callable[[str, bytes], None] | None = None):
        self.target = target
        self.tap = tap  # sees every chunk before the damage: (direction, bytes)
        self.seed = seed
        self.stats = ProxyStats()
        self._faults = {"up": up or Faults(), "down": down or Faults()}
        # one RNG per direction, so the damage of one side does not depend on the other's traffic
        self._rng = {d: random.Random(f"{seed}-{d}") for d in DIRECTIONS}
        self._lock = threading.Lock()
        self._conns: list[tuple[socket.socket, socket.socket]] = []
        self._stop = threading.Event()
        self._server = socket.create_server(listen)
        self._server.settimeout(0.2)
        self.address: tuple[str, int] = self._server.getsockname()[:2]
        self._accept_thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"socket://{self.address[0]}:{self.address[1]}"

    def set_faults(self, up: Faults | None = None, down: Faults | None = None) -> None:
        """Change the rates of a running proxy (the RNG streams continue)."""
        with self._lock:
            if up is not None:
                self._faults["up"] = up
            if down is not None:
                self._faults["down"] = down

    def start(self) -> FaultProxy:
        self._accept_thread = threading.Thread(target=self._accept_loop, name="faultproxy-accept", daemon=True)
        self._accept_thread.start()
        return self

    def __enter__(self) -> FaultProxy:
        return self.start() if self._accept_thread is None else self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        self.cut(count=False)
        with contextlib.suppress(OSError):
            self._server.close()
        if self._accept_thread is not None:
            self._accept_thread.join(timeout=2)

    def cut(self, count: bool = True) -> int:
        """Close every open connection (both ends). Returns how many were cut."""
        with self._lock:
            conns, self._conns = self._conns, []
        for pair in conns:
            for s in pair:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    s.close()
        if count and conns:
            self.stats.cuts += len(conns)
        return len(conns)

    @property
    def connected(self) -> int:
        with self._lock:
            return len(self._conns)

    # ------------------------------------------------------------------ internals

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()  # the host sees the connection close: the target is not there
                continue
            for s in (client, upstream):
                s.settimeout(None)
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._conns.append((client, upstream))
            self.stats.connections += 1
            for src, dst, d in ((client, upstream, "up"), (upstream, client, "down")):
                threading.Thread(target=self._pump, args=(src, dst, d, (client, upstream)),
                                 name=f"faultproxy-{d}", daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, direction: str,
              pair: tuple[socket.socket, socket.socket]) -> None:
        stats = self.stats.up if direction == "up" else self.stats.down
        try:
            while True:
                data = src.recv(4096)
                if not data:
                    break
                if self.tap is not None:
                    self.tap(direction, data)
                with self._lock:
                    damage = _Damage(self._faults[direction], self._rng[direction], stats)
                    pieces = damage.apply(data)
                for p in pieces:
                    if isinstance(p, float):
                        time.sleep(p)
                    elif p:
                        dst.sendall(p)
        except OSError:
            pass
        finally:
            # one side ended: end the other too, as a serial server would
            with self._lock:
                if pair in self._conns:
                    self._conns.remove(pair)
            for s in pair:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    s.close()


# ---------------------------------------------------------------------- command line

def _address(text: str) -> tuple[str, int]:
    text = text.removeprefix("socket://")
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = "127.0.0.1", text
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT")
    return host or "127.0.0.1", int(port)


def _rate(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not a probability in [0, 1]")
    return v


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tinyml.testing.faultproxy",
                                description="TCP proxy that drops, corrupts, duplicates and delays bytes.")
    p.add_argument("--listen", type=_address, default=("127.0.0.1", 0), help="HOST:PORT to listen on (default: a "
                   "free local port, printed)")
    p.add_argument("--target", type=_address, required=True, help="HOST:PORT of the board's serial socket")
    p.add_argument("--direction", choices=("both", *DIRECTIONS), default="both",
                   help="which way the faults apply: up = host->device, down = device->host")
    p.add_argument("--drop", type=_rate, default=0.0)
    p.add_argument("--corrupt", type=_rate, default=0.0)
    p.add_argument("--duplicate", type=_rate, default=0.0)
    p.add_argument("--delay", type=_rate, default=0.0, help="probability per byte of a pause before it")
    p.add_argument("--delay-ms", type=float, default=10.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--duration", type=float, default=0.0, help="stop after this many seconds (0: until Ctrl-C)")
    args = p.parse_args(argv)
    try:
        faults = Faults(args.drop, args.corrupt, args.duplicate, args.delay, args.delay_ms / 1000.0)
    except ValueError as exc:
        p.error(str(exc))
    up = faults if args.direction in ("both", "up") else Faults()
    down = faults if args.direction in ("both", "down") else Faults()
    try:
        proxy = FaultProxy(args.target, listen=args.listen, up=up, down=down, seed=args.seed)
    except OSError as exc:
        print(f"error: cannot listen on {args.listen[0]}:{args.listen[1]}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    with proxy:
        print(f"faultproxy: {proxy.url} -> {args.target[0]}:{args.target[1]} (seed {args.seed})", flush=True)
        try:
            end = time.monotonic() + args.duration if args.duration > 0 else None
            while end is None or time.monotonic() < end:
                time.sleep(0.2)
        except KeyboardInterrupt:
            pass
    import json

    print(json.dumps(proxy.stats.to_dict()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
