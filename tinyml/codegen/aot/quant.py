"""Generation-time quantization math, computed exactly as TFLite Micro computes it.

The C kernels only multiply by what these functions return, so any difference here shows up
as an output off by one LSB. References (TFLM): ``QuantizeMultiplier`` in
``kernels/internal/quantization_util.cc``, ``PopulateConvolutionQuantizationParams`` and
``CalculateActivationRangeQuantized`` in ``kernels/kernel_util.cc``.
"""

from __future__ import annotations

import math

import numpy as np

INT8_MIN, INT8_MAX = -128, 127


def tflite_round(x: float) -> int:
    """std::round: halves away from zero (Python's round() goes to even)."""
    ax = abs(x)
    r = math.floor(ax)
    if ax - r >= 0.5:  # exact for doubles, unlike floor(ax + 0.5)
        r += 1
    return int(r) if x >= 0 else -int(r)


def quantize_multiplier(real: float) -> tuple[int, int]:
    """(Q31 multiplier, shift) with real == multiplier * 2^(shift - 31), as TFLM's QuantizeMultiplier."""
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    q_fixed = tflite_round(q * (1 << 31))
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if shift < -31:  # too small to represent: TFLM flushes to zero
        return 0, 0
    # TFLITE_SINGLE_ROUNDING builds would also clamp shift > 30; effective scales never get there.
    return int(q_fixed), int(shift)


def conv_multipliers(input_scale: float, filter_scales: np.ndarray, output_scale: float) -> tuple[list[int], list[int]]:
    """Per-channel (multiplier, shift) lists as PopulateConvolutionQuantizationParams: in double,
    input_scale * filter_scale / output_scale, each scale a float32 widened to double."""
    mults, shifts = [], []
    for fs in np.asarray(filter_scales, dtype=np.float32):
        real = float(np.float32(input_scale)) * float(fs) / float(np.float32(output_scale))
        m, s = quantize_multiplier(real)
        mults.append(m)
        shifts.append(s)
    return mults, shifts


def activation_range(activation: str, scale: float, zero_point: int,
                     qmin: int = INT8_MIN, qmax: int = INT8_MAX) -> tuple[int, int]:
    """CalculateActivationRangeQuantized: the clamp a fused activation becomes (float32 division)."""
    s = np.float32(scale)

    def q(x: float) -> int:
        return int(zero_point) + tflite_round(float(np.float32(x) / s))

    if activation in ("NONE", None):
        return qmin, qmax
    if activation == "RELU":
        return max(qmin, q(0.0)), qmax
    if activation == "RELU6":
        return max(qmin, q(0.0)), min(qmax, q(6.0))
    if activation == "RELU_N1_TO_1":
        return max(qmin, q(-1.0)), min(qmax, q(1.0))
    raise ValueError(activation)


def compute_padding(stride: int, dilation: int, in_size: int, k_size: int, out_size: int) -> int:
    """ComputePaddingWithOffset's leading (top/left) padding; the odd pixel goes at the end."""
    effective = (k_size - 1) * dilation + 1
    total = (out_size - 1) * stride + effective - in_size
    return max(total, 0) // 2


def output_size(padding: str, in_size: int, k_size: int, stride: int, dilation: int = 1) -> int:
    effective = (k_size - 1) * dilation + 1
    if padding == "SAME":
        return (in_size + stride - 1) // stride
    return (in_size - effective + stride) // stride
