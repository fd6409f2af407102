"""The .tflite reader against corrupt input: only TinymlError may come out, never a traceback.

Mutations of real (hand-built, valid) models: truncation at every 7th byte, random byte flips,
random 32-bit words (flatbuffer offsets and lengths) set to extreme values, slices removed and
duplicated. What parses must also survive the analysis and the int8 checks.
"""

from __future__ import annotations

import struct
import time

import numpy as np
import pytest
from test_inspect_models import cnn_model, fc_model

from tinyml.errors import TinymlError
from tinyml.model import analysis, checks
from tinyml.model.tflite import parse

pytestmark = pytest.mark.unit

SEEDS = 300  # mutations per model per kind; the whole file runs in a few seconds


def _survives(raw: bytes) -> str:
    """'ok' or 'error'; any other exception fails the test with the input that caused it."""
    try:
        model = parse(raw)
    except TinymlError:
        return "error"
    try:
        analysis.analyze(model)
        checks.classify(model)
    except TinymlError:
        return "error"
    return "ok"


@pytest.fixture(scope="module", params=["fc", "cnn", "float-io"])
def original(request) -> bytes:
    return {"fc": fc_model, "cnn": cnn_model, "float-io": lambda: fc_model(float_io=True)}[request.param]()


def test_valid_models_parse(original):
    assert _survives(original) == "ok"


def test_every_truncation(original):
    for cut in range(0, len(original) - 1, 7):
        assert _survives(original[:cut]) == "error", cut


def _check_all(cases: list[bytes]) -> dict[str, int]:
    seen = {"ok": 0, "error": 0}
    start = time.monotonic()
    for raw in cases:
        try:
            seen[_survives(raw)] += 1
        except Exception as exc:  # pragma: no cover - the failure message is the point
            path = f"/tmp/tinyml-reader-crash-{abs(hash(raw))}.tflite"
            with open(path, "wb") as f:
                f.write(raw)
            raise AssertionError(f"{type(exc).__name__}: {exc} (input saved to {path})") from exc
    assert time.monotonic() - start < 60, "the reader is too slow on corrupt input"
    return seen


def test_byte_flips(original):
    rng = np.random.default_rng(1)
    cases = []
    for _ in range(SEEDS):
        buf = bytearray(original)
        for pos in rng.integers(8, len(buf), size=int(rng.integers(1, 9))):
            buf[pos] = int(rng.integers(0, 256))
        cases.append(bytes(buf))
    seen = _check_all(cases)
    assert seen["error"] > 0  # the mutations do reach the error paths


def test_extreme_words(original):
    rng = np.random.default_rng(2)
    extremes = [0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0xFFFF, len(original), len(original) + 4]
    cases = []
    for _ in range(SEEDS):
        buf = bytearray(original)
        pos = int(rng.integers(0, (len(buf) - 4) // 4)) * 4  # flatbuffer fields are 4-byte aligned
        buf[pos:pos + 4] = struct.pack("<I", extremes[int(rng.integers(0, len(extremes)))])
        cases.append(bytes(buf))
    _check_all(cases)


def test_splices(original):
    rng = np.random.default_rng(3)
    cases = []
    for _ in range(SEEDS):
        a, b = sorted(int(x) for x in rng.integers(8, len(original), size=2))
        if rng.random() < 0.5:
            cases.append(original[:a] + original[b:])  # a slice removed
        else:
            cases.append(original[:b] + original[a:b] + original[b:])  # a slice duplicated
    _check_all(cases)
