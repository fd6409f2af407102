"""What the ops2 emitters refuse (one-line UNSUPPORTED errors naming the op), and their
generation-time parameter math against values worked out by hand from TFLM's Prepare code."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tinyml.codegen.aot import generate
from tinyml.codegen.aot.ops.add import add_params, broadcast4
from tinyml.codegen.aot.ops.logistic import sigmoid_params
from tinyml.codegen.aot.ops.mean import mean_multiplier
from tinyml.codegen.aot.ops.softmax import softmax_params
from tinyml.codegen.aot.synth import GraphBuilder
from tinyml.errors import ErrorKind, TinymlError
from tinyml.model.tflite import parse

pytestmark = pytest.mark.codegen

Q = (0.05, 3)


def single_op(opcode: str, out_shape: tuple[int, ...] = (1, 4, 4, 3), *, out_q: tuple[float, int] = Q,
              in_shape: tuple[int, ...] = (1, 4, 4, 3), in_dtype: str = "int8", out_dtype: str = "int8",
              extra: Callable[[GraphBuilder], list[int]] | None = None, **options) -> bytes:
    g = GraphBuilder()
    x = g.tensor(in_shape, in_dtype, scale=Q[0] if in_dtype != "float32" else None, zero_point=Q[1])
    y = g.tensor(out_shape, out_dtype, scale=out_q[0] if out_dtype != "float32" else None, zero_point=out_q[1])
    g.op(opcode, [x, *(extra(g) if extra else [])], [y], **options)
    return g.build([x], [y])


def const(shape: tuple[int, ...]) -> Callable[[GraphBuilder], list[int]]:
    return lambda g: [g.tensor(shape, data=np.zeros(shape, np.int8), scale=0.1, zero_point=0)]


def quantize_via_int16() -> bytes:
    """float -> QUANTIZE -> int16 -> QUANTIZE -> int8: the aot kernels are float/int8 only."""
    g = GraphBuilder()
    x = g.tensor((1, 8), "float32")
    mid = g.tensor((1, 8), "int16", scale=0.001, zero_point=0)
    y = g.tensor((1, 8), scale=0.05, zero_point=0)
    g.op("QUANTIZE", [x], [mid])
    g.op("QUANTIZE", [mid], [y])
    return g.build([x], [y])


CASES = {
    "softmax output scale": (single_op("SOFTMAX", beta=1.0), "SOFTMAX", "1/256"),
    "softmax beta too small": (single_op("SOFTMAX", out_q=(1 / 256, -128), beta=1e-9), "SOFTMAX", "too small"),
    "logistic output quantization": (single_op("LOGISTIC"), "LOGISTIC", "0.00390625 / -128"),
    "tanh output quantization": (single_op("TANH", out_q=(1 / 256, -128)), "TANH", "0.0078125 / 0"),
    "tanh float input": (single_op("TANH", in_dtype="float32", out_q=(1 / 128, 0)), "TANH", "float32"),
    "add shapes do not broadcast": (single_op("ADD", (1, 4, 5, 3), extra=const((1, 1, 5, 3)),
                                              fused_activation_function="NONE"), "ADD", "do not broadcast"),
    "add five dimensions": (single_op("ADD", (2, 1, 4, 4, 3), in_shape=(2, 1, 4, 4, 3), extra=const((3,)),
                                      fused_activation_function="NONE"), "ADD", "more than 4 dimensions"),
    "add tanh activation": (single_op("ADD", extra=const((3,)), fused_activation_function="TANH"),
                            "ADD", "fused activation TANH"),
    "mul int16 operand": (single_op("MUL", extra=lambda g: [g.tensor((3,), "int16", data=np.zeros(3, np.int16),
                                                                     scale=0.1, zero_point=0)],
                                    fused_activation_function="NONE"), "MUL", "int16"),
    "mean axis not constant": (single_op("MEAN", (1, 1, 1, 3), extra=lambda g: [g.tensor((2,), "int32")],
                                         keep_dims=True), "MEAN", "axis tensor is not constant"),
    "mean five dimensions": (single_op("MEAN", (2, 1, 1, 1, 3), in_shape=(2, 1, 4, 4, 3),
                                       extra=lambda g: [g.tensor((2,), "int32", data=np.array([2, 3], np.int32))],
                                       keep_dims=True), "MEAN", "5 dimensions"),
    "quantize to int16": (quantize_via_int16(), "QUANTIZE", "int16"),
    "dequantize to int8": (single_op("DEQUANTIZE"), "DEQUANTIZE", "float32"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_unsupported_variants_are_refused_with_the_reason(case: str) -> None:
    raw, opcode, reason = CASES[case]
    with pytest.raises(TinymlError) as err:
        generate(parse(raw))
    assert err.value.kind == ErrorKind.UNSUPPORTED
    assert opcode in err.value.message and reason in err.value.message, err.value.message
    assert "--engine tflm" in (err.value.hint or "")


def test_cli_run_aot_reports_an_unsupported_softmax_in_one_line(run_cli, tmp_path: Path) -> None:
    (tmp_path / "m.tflite").write_bytes(CASES["softmax output scale"][0])
    np.save(tmp_path / "x.npy", np.zeros((2, 4, 4, 3), np.int8))
    res = run_cli("run", "m.tflite", "--input", "x.npy", "--engine", "aot", cwd=tmp_path)
    assert res.returncode == 4, res.stderr  # ErrorKind.UNSUPPORTED
    assert "SOFTMAX" in res.stderr and "1/256" in res.stderr
    assert "Traceback" not in res.stderr


# ---- parameter math, worked out by hand from TFLM's Prepare ---------------------------------

def test_softmax_params_for_a_power_of_two_scale() -> None:
    # beta * scale * 2^26 = 2^-4 * 2^26 = 2^22 -> multiplier 2^30 (0.5 in Q31), left shift 23;
    # radius = 31 * 2^26 / 2^23 = 248.
    assert softmax_params(1.0, 1 / 16) == (1 << 30, 23, -248)


def test_softmax_multiplier_is_capped_like_tflm() -> None:
    # beta * scale * 2^26 beyond 2^31 - 1 is capped there (PreprocessSoftmaxScaling): Q31
    # multiplier 2^31 - 1 with shift 31; the radius floor(31 * 2^26 / 2^31) is 0
    assert softmax_params(1.0, 1000.0) == (2**31 - 1, 31, 0)


def test_sigmoid_params_use_frexp_and_round_half_away() -> None:
    # 0.1 * 2^27 = 13421772.8 = 0.8 * 2^24 -> multiplier round(0.8 * 2^31), shift 24,
    # radius floor(15 * 2^27 / 2^24) = 120
    m, shift, radius = sigmoid_params(0.1)
    assert shift == 24 and radius == 120
    assert m == round(float(np.float32(0.1)) * 2**27 / 2**24 * 2**31)


def test_add_params_scale_both_inputs_to_twice_the_larger_scale() -> None:
    p = add_params(0.5, 0.25, 1.0)
    # 0.5 / 1.0 -> (2^30, 0); 0.25 / 1.0 -> (2^30, -1); 1.0 / (2^20 * 1.0) -> (2^30, -19)
    assert (p["input1_multiplier"], p["input1_shift"]) == (1 << 30, 0)
    assert (p["input2_multiplier"], p["input2_shift"]) == (1 << 30, -1)
    assert (p["output_multiplier"], p["output_shift"], p["left_shift"]) == (1 << 30, -19, 20)


def test_mean_multiplier_folds_in_one_over_count() -> None:
    # scale ratio 1 -> (2^30, 1); count 9 -> shift 3: (2^30 << 3) // 9, shift 1 - 3
    assert mean_multiplier(0.1, 0.1, 9) == ((1 << 33) // 9, -2)
    # the extra shift is limited to 31 + the ratio's shift: ratio 2^-20 -> (2^30, -19), count 2^20
    # would want 20 more bits but gets 12, ending at -31
    assert mean_multiplier(2.0**-20, 1.0, 1 << 20) == (1 << 22, -31)


def test_broadcast4_strides() -> None:
    assert broadcast4((1, 2, 3, 4), (1, 2, 3, 4), (1, 2, 3, 4)) is None
    bc = broadcast4((1, 2, 3, 4), (4,), (1, 2, 3, 4))
    assert bc == {"dims": [1, 2, 3, 4], "stride1": [0, 12, 4, 1], "stride2": [0, 0, 0, 1]}
    bc = broadcast4((1, 1, 3, 1), (1, 2, 1, 4), (1, 2, 3, 4))
    assert bc == {"dims": [1, 2, 3, 4], "stride1": [0, 0, 1, 0], "stride2": [0, 4, 0, 1]}
