"""SOFTMAX (int8 -> int8): TFLM SoftmaxPrepare's parameters, computed at generation time.

TFLM (micro/kernels/softmax_common.cc, kernels/internal/quantization_util.cc):
``PreprocessSoftmaxScaling`` turns beta * input_scale into a Q31 multiplier and left shift for
input differences scaled to Q5.26, and ``CalculateInputRadius`` gives diff_min, below which
exp() rounds to zero.
"""

from __future__ import annotations

import math

import numpy as np

from tinyml.codegen.aot.context import OpContext
from tinyml.codegen.aot.quant import quantize_multiplier
from tinyml.codegen.aot.registry import register

SCALED_DIFF_INTEGER_BITS = 5


def input_radius(integer_bits: int, left_shift: int, total_signed_bits: int = 31) -> int:
    """CalculateInputRadius: the largest |input| (in the rescaled domain) worth computing."""
    # ((2^bits - 1) * 2^(31 - bits)) / 2^left_shift: powers of two, exact in double as in TFLM.
    max_rescaled = math.ldexp(float(((1 << integer_bits) - 1) << (total_signed_bits - integer_bits)), -left_shift)
    return int(math.floor(max_rescaled))


def softmax_params(beta: float, input_scale: float) -> tuple[int, int, int]:
    """(input_multiplier, input_left_shift, diff_min) as TFLM computes them for int8 input."""
    real = float(np.float32(beta)) * float(np.float32(input_scale)) * float(1 << (31 - SCALED_DIFF_INTEGER_BITS))
    real = min(real, float((1 << 31) - 1))  # max_real_multiplier of the double-rounding build
    multiplier, left_shift = quantize_multiplier(real)
    diff_min = -input_radius(SCALED_DIFF_INTEGER_BITS, left_shift)
    return multiplier, left_shift, diff_min


_I32_MIN, _I32_MAX = -(1 << 31), (1 << 31) - 1
_EXP_BARREL = (1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242)  # exp(-2^k / 4)


def _s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >= 1 << 31 else v


def _srdhm(a: int, b: int) -> int:
    """gemmlowp SaturatingRoundingDoublingHighMul (fixedpoint.h), C's truncating division."""
    if a == b == _I32_MIN:
        return _I32_MAX
    ab = a * b
    n = ab + ((1 << 30) if ab >= 0 else 1 - (1 << 30))
    return _s32(abs(n) >> 31 if n >= 0 else -(abs(n) >> 31))


def _rdbpot(x: int, e: int) -> int:
    mask = (1 << e) - 1
    return (x >> e) + (1 if (x & mask) > (mask >> 1) + (1 if x < 0 else 0) else 0)


def _rescale(raw: int, src: int, dst: int) -> int:
    e = src - dst
    if e <= 0:
        return _rdbpot(raw, -e)
    thr = (1 << (31 - e)) - 1
    return _I32_MAX if raw > thr else _I32_MIN if raw < -thr else _s32(raw << e)


def _exp_on_negative_values(a: int, int_bits: int) -> int:
    """fx_nonlinear.h fx_exp_on_negative_values (gemmlowp exp_on_negative_values), int32 exact."""
    frac = 31 - int_bits
    quarter = 1 << (frac - 2)
    amq = _s32((a & (quarter - 1)) - quarter)
    x = _s32(_rescale(amq, int_bits, 0) + (1 << 28))  # exp on [-1/4, 0): Taylor around -1/8
    x2 = _srdhm(x, x)
    x3, x4 = _srdhm(x2, x), _srdhm(x2, x2)
    poly = _rdbpot(_s32(_srdhm(_s32(_rdbpot(x4, 2) + x3), 715827883) + x2), 1)
    result = _s32(1895147668 + _srdhm(1895147668, _s32(x + poly)))
    rem = _s32(amq - a)
    for k, factor in enumerate(_EXP_BARREL):
        if int_bits > k - 2 and rem & (1 << (frac + k - 2)):
            result = _srdhm(result, factor)
    if int_bits > 5 and a < -(1 << (36 - int_bits)):
        result = 0
    return _I32_MAX if a == 0 else result


def exp_table(multiplier: int, left_shift: int, diff_min: int) -> list[int]:
    """The kernel's exp of each int8 input difference 0, -1, ... down to max(diff_min, -255):
    scaled_exp in softmax.c (rescale to Q5.26, exp_on_negative_values), bit for bit."""
    return [_exp_on_negative_values(_srdhm(_s32(-d << left_shift), multiplier), SCALED_DIFF_INTEGER_BITS)
            for d in range(0, min(-diff_min, 255) + 1)]


@register("SOFTMAX", inplace=True)
def emit(ctx: OpContext) -> str:
    x, y = ctx.need_input(0, "input"), ctx.output()
    ctx.require_dtype(x, "input", "int8")
    ctx.require_dtype(y, "output", "int8")
    ctx.require_quantized(x, "input")
    ctx.require_quantized(y, "output")
    ctx.require(y.zero_point == -128 and np.float32(y.scale) == np.float32(1.0 / 256),
                f"its output is quantized with scale {y.scale} / zero point {y.zero_point}; "
                "TFLM requires 1/256 and -128")
    ctx.require(len(x.shape) >= 1, "its input is a scalar")
    depth = int(x.shape[-1])
    outer = int(np.prod(x.shape[:-1])) if len(x.shape) > 1 else 1
    multiplier, left_shift, diff_min = softmax_params(float(ctx.options.get("beta", 1.0)), x.scale)
    ctx.require(left_shift >= 0, f"beta * input scale is too small ({left_shift=})")
    fields: dict[str, int | str] = {
        "outer": outer, "depth": depth, "input_multiplier": multiplier,
        "input_left_shift": left_shift, "diff_min": diff_min,
    }
    if diff_min <= 0:
        # one exp per possible difference instead of ~200 instructions per element, in builds
        # with the fast kernels (AVR keeps its flash and computes them)
        table = ctx.const_array("exp", "int32_t", exp_table(multiplier, left_shift, diff_min))
        ctx.unit.decls[-1] = f"#ifdef TINYML_SM_TABLES\n{ctx.unit.decls[-1]}\n#endif"
        fields["exp_table"] = f"TINYML_SM_TABLE({table})"
    name = ctx.params("tinyml_softmax_params", fields)
    return f"tinyml_softmax_s8(&{name}, {ctx.in_ptr(0)}, {ctx.out_ptr(0)});"
