"""Measure the smallest tensor arena with which the TFLM host interpreter runs a model.

``interpreter.arena_used_bytes()`` is not a safe size (kernels' Prepare can allocate
temporaries that peak higher, see /work/shared/notes/tflm-on-boards.md), so we search: build an
interpreter with arena size N, set inputs, invoke; the answer is the smallest N (a multiple of 16,
TFLM's alignment) that works. A too-small arena can make TFLM abort or segfault, so every attempt
runs in a child process. One child tries many sizes in a row over a tiny line protocol
("N\\n" -> "N ok" / "N fail msg"); if it dies, that size counts as failing and a fresh child
takes over.

The figure is a host (64-bit) measurement with TFLM's reference kernels: 32-bit targets need a
little less (smaller pointers), optimized kernel libraries (CMSIS-NN, ESP-NN) may add scratch.
"""

from __future__ import annotations

import contextlib
import json
import select
import signal
import subprocess
import sys
import tempfile
from typing import IO

from tinyml import runner
from tinyml.errors import ErrorKind, TinymlError
from tinyml.model.tflite import Model, parse

ALIGN = 16  # TFLM aligns arena allocations to 16 bytes
MAX_ARENA = 64 * 1024 * 1024  # no board tinyml knows has more RAM; stop doubling here
ATTEMPT_TIMEOUT = 120.0  # seconds for one attempt (a big model's invoke on the host)

_cache: dict[str, int] = {}

# The child: reads the model (length-prefixed) from stdin, then one arena size per line.
# TFLM logs with printf to fd 1, so the protocol gets a duplicate of fd 1 and fd 1 goes to stderr.
_CHILD = r"""
import json, os, sys
proto = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)
import numpy as np
from tflite_micro import runtime
specs = json.loads(sys.argv[1])
n = int(sys.stdin.buffer.readline())
model = sys.stdin.buffer.read(n)
inputs = [np.zeros(shape, dtype=np.dtype(dtype)) for shape, dtype in specs]
proto.write("ready\n"); proto.flush()
for line in sys.stdin.buffer:
    size = int(line)
    try:
        it = runtime.Interpreter.from_bytes(model, arena_size=size)
        for i, x in enumerate(inputs):
            it.set_input(x, i)
        it.invoke()
        del it
        proto.write(f"{size} ok\n")
    except Exception as exc:
        msg = " ".join(str(exc).split())[:300]
        proto.write(f"{size} fail {type(exc).__name__}: {msg}\n")
    proto.flush()
"""


def _input_specs(model: Model) -> list[tuple[list[int], str]]:
    specs = []
    for t in model.input_tensors():
        if t.dtype not in ("int8", "uint8", "int16", "int32", "float32", "bool", "int64"):
            raise TinymlError(f"{model.label}: input '{t.name}' has type {t.dtype}",
                              hint="the arena measurement feeds int/float inputs only", kind=ErrorKind.UNSUPPORTED)
        specs.append(([max(1, d) for d in t.shape], t.dtype))
    return specs


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


class _Prober:
    """Keeps one child interpreter process alive across attempts; replaces it when it dies."""

    def __init__(self, raw: bytes, specs: list[tuple[list[int], str]], timeout: float) -> None:
        self.raw = raw
        self.specs = json.dumps(specs)
        self.timeout = timeout
        self.proc: subprocess.Popen[bytes] | None = None
        # the child's stderr (TFLM's log), read back for error messages; closed in close()
        self.log: IO[bytes] = tempfile.TemporaryFile(prefix="tinyml-arena-")  # noqa: SIM115
        self.last_error = ""
        self.crashes = 0
        self.attempts = 0

    def _start(self) -> subprocess.Popen[bytes]:
        proc = runner.popen([sys.executable, "-c", _CHILD, self.specs], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=self.log)
        assert proc.stdin is not None
        try:
            proc.stdin.write(b"%d\n" % len(self.raw) + self.raw)
            proc.stdin.flush()
        except BrokenPipeError:
            pass
        line = self._readline(proc)
        if line != "ready":
            proc.kill()
            proc.wait()
            raise TinymlError("the TFLM host interpreter did not start" + self._log_tail(),
                              hint="check that tflite-micro imports: python -c 'from tflite_micro import runtime'",
                              kind=ErrorKind.TOOL)
        return proc

    def _readline(self, proc: subprocess.Popen[bytes]) -> str | None:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], self.timeout)
        if not ready:
            proc.kill()
            proc.wait()
            raise TinymlError(f"the TFLM host interpreter did not answer within {self.timeout:g} s",
                              hint="the model may be too large to run on the host", kind=ErrorKind.TOOL)
        raw = proc.stdout.readline()
        return raw.decode(errors="replace").strip() if raw else None

    def _log_tail(self) -> str:
        self.log.seek(0)
        lines = [ln for ln in self.log.read().decode(errors="replace").splitlines() if ln.strip()]
        return (": " + " | ".join(lines[-3:])) if lines else ""

    def works(self, size: int) -> bool:
        self.attempts += 1
        if self.proc is None:
            self.proc = self._start()
        proc = self.proc
        assert proc.stdin is not None
        try:
            proc.stdin.write(b"%d\n" % size)
            proc.stdin.flush()
            line = self._readline(proc)
        except BrokenPipeError:
            line = None
        if line is None:  # the child died on this size (TFLM aborts on some too-small arenas)
            proc.wait()
            self.proc = None
            self.crashes += 1
            self.last_error = f"the interpreter crashed ({_describe_exit(proc.returncode)})"
            return False
        parts = line.split(" ", 2)
        if len(parts) < 2 or parts[0] != str(size):
            raise TinymlError(f"unexpected answer from the arena probe: {line!r}", kind=ErrorKind.TOOL)
        if parts[1] == "ok":
            return True
        self.last_error = parts[2] if len(parts) > 2 else "failed"
        return False

    def close(self) -> None:
        if self.proc is not None:
            assert self.proc.stdin is not None
            with contextlib.suppress(BrokenPipeError):
                self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        self.log.close()


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def _start_guess(model: Model) -> int:
    """A first size to try: the activation bytes plus room for TFLM's own bookkeeping."""
    acts = sum(t.nbytes for t in model.tensors if not t.is_constant)
    per_tensor = 64 * len(model.tensors) + 128 * len(model.operators)
    return _align(max(1024, acts + per_tensor))


def measure_arena(model_bytes: bytes, *, timeout: float = ATTEMPT_TIMEOUT) -> int:
    """Smallest arena in bytes (multiple of 16) with which the TFLM host interpreter runs the model.

    Runs at the returned size and fails at size - 16. Cached by model sha256 for this process.
    """
    model = parse(model_bytes)
    if model.sha256 in _cache:
        return _cache[model.sha256]
    specs = _input_specs(model)
    prober = _Prober(model.raw, specs, timeout)
    try:
        lo = 0  # largest size known to fail (0 always does)
        hi = _start_guess(model)
        if not prober.works(hi):
            lo = hi
            # One try with the largest arena tells "too small" from "cannot run at all" (an op TFLM
            # lacks, a kernel that rejects the model in Prepare) before any doubling.
            if not prober.works(MAX_ARENA):
                raise TinymlError(f"the TFLM host interpreter cannot run the model even with a "
                                  f"{MAX_ARENA // (1024 * 1024)} MB arena: {prober.last_error}" + prober._log_tail(),
                                  hint="check that TFLite Micro supports every op of the model and that its "
                                       "quantization parameters are sane (tinyml inspect --no-arena shows them)",
                                  kind=ErrorKind.UNSUPPORTED)
            hi = min(hi * 2, MAX_ARENA)
            while not prober.works(hi):
                if hi >= MAX_ARENA:  # worked a moment ago: the interpreter is not deterministic
                    raise TinymlError("the TFLM host interpreter gave different answers for the same arena size",
                                      hint="report this model to tinyml", kind=ErrorKind.TOOL)
                lo = hi
                hi = min(hi * 2, MAX_ARENA)
        while hi - lo > ALIGN:
            mid = _align((lo + hi) // 2)
            if mid in (lo, hi):
                mid = lo + ALIGN
            if prober.works(mid):
                hi = mid
            else:
                lo = mid
    finally:
        prober.close()
    _cache[model.sha256] = hi
    return hi


def runs_with_arena(model_bytes: bytes, size: int, *, timeout: float = ATTEMPT_TIMEOUT) -> bool:
    """One attempt in a fresh child process: does the model run with exactly ``size`` bytes of arena?"""
    model = parse(model_bytes)
    prober = _Prober(model.raw, _input_specs(model), timeout)
    try:
        return prober.works(size)
    finally:
        prober.close()
