"""The C fixed-point primitives (firmware/include/tinyml/fixedpoint.h) against a Python model of
TFLM's integer arithmetic, on edge cases and random values: every requantization of every op
goes through them."""

from __future__ import annotations

import ctypes
import shutil
import subprocess

import numpy as np
import pytest

from tinyml.codegen.aot.quant import quantize_multiplier
from tinyml.resources import resource_dir

pytestmark = pytest.mark.codegen

SHIM = r"""
#include "tinyml/fixedpoint.h"
int32_t srdhm(int32_t a, int32_t b) { return tinyml_sat_rounding_doubling_high_mul(a, b); }
int32_t rdbpot(int32_t x, int e) { return tinyml_rounding_divide_by_pot(x, e); }
int32_t mbqm(int32_t x, int32_t m, int s) { return tinyml_multiply_by_quantized_multiplier(x, m, s); }
"""

I32_MIN, I32_MAX = -(2**31), 2**31 - 1


def wrap32(v: int) -> int:
    return (v + 2**31) % 2**32 - 2**31


def srdhm(a: int, b: int) -> int:
    """gemmlowp SaturatingRoundingDoublingHighMul: (a*b + nudge) / 2^31, truncating toward zero."""
    if a == b == I32_MIN:
        return I32_MAX
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    q = abs(ab + nudge) // (1 << 31)
    return wrap32(q if ab + nudge >= 0 else -q)


def rdbpot(x: int, e: int) -> int:
    mask = (1 << e) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> e) + (1 if remainder > threshold else 0)


def mbqm(x: int, m: int, s: int) -> int:
    left, right = max(s, 0), max(-s, 0)
    return rdbpot(srdhm(wrap32(x * (1 << left)), m), right)


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    cc = shutil.which("gcc")
    if cc is None:
        pytest.skip("gcc is not installed")
    d = tmp_path_factory.mktemp("fixedpoint")
    (d / "shim.c").write_text(SHIM)
    so = d / "libfp.so"
    subprocess.run([cc, "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC",
                    f"-I{resource_dir('firmware') / 'include'}", str(d / "shim.c"), "-o", str(so)], check=True)
    lib = ctypes.CDLL(str(so))
    for name, args in (("srdhm", [ctypes.c_int32] * 2), ("rdbpot", [ctypes.c_int32, ctypes.c_int]),
                       ("mbqm", [ctypes.c_int32, ctypes.c_int32, ctypes.c_int])):
        getattr(lib, name).restype = ctypes.c_int32
        getattr(lib, name).argtypes = args
    return lib


EDGE = [0, 1, -1, 2, -2, 3, -3, 127, -128, 2**30, -(2**30), I32_MAX, I32_MIN, I32_MIN + 1, 12345, -12345]


def test_saturating_rounding_doubling_high_mul(lib):
    rng = np.random.default_rng(0)
    pairs = [(a, b) for a in EDGE for b in EDGE] + [
        (int(a), int(b)) for a, b in rng.integers(I32_MIN, I32_MAX, size=(3000, 2), endpoint=True)]
    for a, b in pairs:
        assert lib.srdhm(a, b) == srdhm(a, b), (a, b)


def test_rounding_divide_by_power_of_two_ties_away_from_zero(lib):
    assert [lib.rdbpot(v, 1) for v in (3, -3, 5, -5, 1, -1)] == [2, -2, 3, -3, 1, -1]
    rng = np.random.default_rng(1)
    for x in EDGE + [int(v) for v in rng.integers(I32_MIN, I32_MAX, size=500, endpoint=True)]:
        for e in range(0, 32):
            assert lib.rdbpot(x, e) == rdbpot(x, e), (x, e)


def test_multiply_by_quantized_multiplier(lib):
    rng = np.random.default_rng(2)
    scales = [0.5, 1.0 - 2.0**-40, 3.0, 1e-6, 0.0123] + list(np.exp(rng.uniform(np.log(1e-7), np.log(40), 300)))
    for scale in scales:
        m, s = quantize_multiplier(float(scale))
        limit = min(I32_MAX, int(2**31 / max(1.0, 2.0**s)) - 1)  # TFLM never left-shifts into overflow
        xs = [0, 1, -1, limit, -limit] + [int(v) for v in rng.integers(-limit, limit, size=40)]
        for x in xs:
            got = lib.mbqm(x, m, s)
            assert got == mbqm(x, m, s), (x, scale)
            assert abs(got - x * m * 2.0 ** (s - 31)) <= 1.0, (x, scale)  # a rounded product
