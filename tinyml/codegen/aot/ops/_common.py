"""Helpers shared by the conv-like ops (CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED) and pooling."""

from __future__ import annotations

from typing import Any

from tinyml.codegen.aot.context import OpContext
from tinyml.codegen.aot.quant import activation_range, compute_padding, conv_multipliers
from tinyml.model.tflite import Model, Operator, Tensor

ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")


def fused_activation(ctx: OpContext, out: Tensor) -> tuple[int, int]:
    act = ctx.options.get("fused_activation_function", "NONE")
    ctx.require(act in ACTIVATIONS, f"its fused activation {act} has no int8 kernel")
    return activation_range(act, out.scale, out.zero_point)


def int8_io(ctx: OpContext) -> tuple[Tensor, Tensor]:
    """The op's input 0 and output 0, both checked to be per-tensor quantized int8."""
    x, y = ctx.need_input(0, "input"), ctx.output()
    ctx.require_dtype(x, "input", "int8")
    ctx.require_dtype(y, "output", "int8")
    ctx.require_quantized(x, "input")
    ctx.require_quantized(y, "output")
    return x, y


def weights_and_bias(ctx: OpContext, x: Tensor, y: Tensor, *, channels: int, axis: int) -> dict[str, Any]:
    """Filter, bias and requantization fields of a conv-like params struct.

    Per-tensor and per-channel both compute double(input_scale) * double(filter_scale) /
    double(output_scale), as TFLM's PopulateConvolutionQuantizationParams and (per-tensor
    FULLY_CONNECTED) GetQuantizedConvolutionMultipler do."""
    w = ctx.need_input(1, "filter")
    ctx.require(w.is_constant, "its filter is not a constant tensor")
    ctx.require_dtype(w, "filter", "int8")
    q = w.quantization
    ctx.require(q is not None and len(q.scale) > 0, "its filter has no quantization parameters")
    assert q is not None
    per_channel = len(q.scale) > 1
    if per_channel:
        ctx.require(len(q.scale) == channels and q.axis == axis,
                    f"its filter has {len(q.scale)} scales on axis {q.axis}, expected {channels} on axis {axis}")
    ctx.require(all(int(z) == 0 for z in q.zero_point) or not per_channel,
                "its per-channel filter has non-zero zero points")
    mults, shifts = conv_multipliers(x.scale, q.scale, y.scale)
    b = ctx.input(2)
    bias = None
    if b is not None:
        ctx.require(b.is_constant, "its bias is not a constant tensor")
        ctx.require_dtype(b, "bias", "int32")
        ctx.require(b.size == channels, f"its bias has {b.size} values for {channels} output channels")
        bias = ctx.weights(b, "bias")
    return {
        "per_channel": int(per_channel),
        "filter": ctx.weights(w, "filter"),
        "bias": bias,
        "multiplier": ctx.const_array("multiplier", "int32_t", mults),
        "shift": ctx.const_array("shift", "int8_t", shifts),
        "filter_zero_point": int(q.zero_point[0]),
    }


def spatial(ctx: OpContext, x: Tensor, y: Tensor, k_h: int, k_w: int, dilation_h: int = 1,
            dilation_w: int = 1) -> dict[str, int]:
    """Strides and top/left padding of a 2D window op, checked against the output shape."""
    padding = ctx.options.get("padding", "VALID")
    ctx.require(padding in ("SAME", "VALID"), f"its padding {padding} is unknown")
    sh, sw = int(ctx.options.get("stride_h", 1)), int(ctx.options.get("stride_w", 1))
    ctx.require(sh > 0 and sw > 0, "its strides are not positive")
    ctx.require(len(x.shape) == 4 and len(y.shape) == 4, f"its input/output are not 4-D ({x.shape} -> {y.shape})")
    in_h, in_w, out_h, out_w = x.shape[1], x.shape[2], y.shape[1], y.shape[2]
    return {
        "stride_h": sh, "stride_w": sw,
        "pad_h": compute_padding(sh, dilation_h, in_h, k_h, out_h) if padding == "SAME" else 0,
        "pad_w": compute_padding(sw, dilation_w, in_w, k_w, out_w) if padding == "SAME" else 0,
    }


def row_overlap(model: Model, op: Operator, k_h: int, dilation_h: int) -> int | None:
    """D for the planner's row streaming (registry.OpSpec.overlap) of a 2-D window op, batch 1.

    The kernels write output row oy, in order, while reading input rows from oy*stride - pad on.
    Row oy's bytes must therefore end before input row max(0, oy*stride - pad) starts:
    out_start + (oy+1)*out_row <= in_start + max(0, oy*stride - pad)*in_row for every oy, i.e.
    out_start <= in_start - D with D the largest (oy+1)*out_row - max(0, oy*stride - pad)*in_row.
    """
    x, y = model.tensors[op.inputs[0]], model.tensors[op.outputs[0]]
    if len(x.shape) != 4 or len(y.shape) != 4 or x.shape[0] != 1 or y.shape[0] != 1:
        return None
    stride = int(op.options.get("stride_h", 1))
    in_h, out_h = x.shape[1], y.shape[1]
    pad = compute_padding(stride, dilation_h, in_h, k_h, out_h) if op.options.get("padding") == "SAME" else 0
    in_row, out_row = x.shape[2] * x.shape[3] * x.itemsize, y.shape[2] * y.shape[3] * y.itemsize
    return max((oy + 1) * out_row - max(0, oy * stride - pad) * in_row for oy in range(out_h))
