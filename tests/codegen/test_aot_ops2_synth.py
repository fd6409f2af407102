"""SOFTMAX, LOGISTIC, TANH, ADD, MUL, MEAN, QUANTIZE, DEQUANTIZE: aot vs the TFLM host interpreter
on random graphs built without TensorFlow (tinyml.codegen.aot.synth).

Each graph feeds one random input into several branches of the ops under test (random shapes,
scales from tiny to large, zero points, betas, axes, broadcasts, constant operands, fused
activations); the branches are flattened and concatenated into the one output, so one TFLM run
and one host compilation check many cases. The generated C must equal TFLM byte for byte.
"""

from __future__ import annotations

import numpy as np
import pytest

from tinyml.codegen.aot.host import run_aot
from tinyml.codegen.aot.synth import GraphBuilder
from tinyml.model.reference import run_reference
from tinyml.model.tflite import parse

pytestmark = pytest.mark.codegen

SAMPLES = 16
ACTS = ["NONE", "RELU", "RELU6", "RELU_N1_TO_1"]


def log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


class Graph:
    """One input, branches of single ops, every branch flattened into one CONCATENATION."""

    def __init__(self, rng: np.random.Generator, shape: tuple[int, ...], in_q: tuple[float, int],
                 out_q: tuple[float, int], dtype: str = "int8"):
        self.rng, self.shape, self.in_q, self.out_q = rng, shape, in_q, out_q
        self.g = GraphBuilder()
        self.x = self.g.tensor(shape, dtype, scale=in_q[0] if dtype == "int8" else None, zero_point=in_q[1],
                               name="input")
        self.parts: list[tuple[str, int, int]] = []  # (description, flat tensor, size)

    def out(self, shape: tuple[int, ...]) -> int:
        return self.g.tensor(shape, scale=self.out_q[0], zero_point=self.out_q[1])

    def add_branch(self, y: int, shape: tuple[int, ...], what: str) -> None:
        n = int(np.prod(shape))
        flat = self.out((1, n))
        new_shape = self.g.tensor((2,), "int32", data=np.array([1, n], dtype=np.int32))
        self.g.op("RESHAPE", [y, new_shape], [flat], new_shape=[1, n])
        self.parts.append((what, flat, n))

    def build(self) -> bytes:
        total = sum(n for _, _, n in self.parts)
        y = self.out((1, total))
        self.g.op("CONCATENATION", [t for _, t, _ in self.parts], [y], axis=1, fused_activation_function="NONE")
        return self.g.build([self.x], [y])

    def describe(self, flat_index: int) -> str:
        start = 0
        for what, _, n in self.parts:
            if flat_index < start + n:
                return f"{what} (element {flat_index - start})"
            start += n
        return "?"


def random_input(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    x = rng.integers(-128, 128, size=(SAMPLES, *shape[1:]), dtype=np.int8)
    x[0] = -128  # all equal: softmax ties, mean of the minimum
    x[1] = 127
    x[2].flat[::2] = 127  # extremes side by side
    x[2].flat[1::2] = -128
    return x


def check(gr: Graph, x: np.ndarray) -> None:
    raw = gr.build()
    want = run_reference(raw, x)
    got = run_aot(parse(raw), x)
    assert got.shape == want.shape and got.dtype == want.dtype
    bad = np.flatnonzero((got != want).any(axis=0))
    assert bad.size == 0, (f"{bad.size} output elements differ from TFLM; first in {gr.describe(int(bad[0]))}: "
                           f"aot {got[:, bad[0]].tolist()} tflm {want[:, bad[0]].tolist()}")


def sigmoid_graph(seed: int) -> Graph:
    """SOFTMAX and LOGISTIC (both output 1/256, -128) on random input quantizations and shapes."""
    rng = np.random.default_rng(seed)
    h, w, c = (int(v) for v in rng.integers(1, 7, size=3))
    gr = Graph(rng, (1, h, w, c), (log_uniform(rng, 1e-3, 2.0), int(rng.integers(-128, 128))), (1 / 256, -128))
    g = gr.g
    for _ in range(int(rng.integers(3, 7))):
        if rng.random() < 0.5:
            beta = float(rng.choice([1.0, log_uniform(rng, 0.2, 5.0)]))
            y = gr.out(gr.shape)
            g.op("SOFTMAX", [gr.x], [y], beta=beta)
            gr.add_branch(y, gr.shape, f"SOFTMAX beta={beta:.3f} in_scale={gr.in_q[0]:.3g} on {gr.shape}")
        else:
            y = gr.out(gr.shape)
            g.op("LOGISTIC", [gr.x], [y])
            gr.add_branch(y, gr.shape, f"LOGISTIC in_scale={gr.in_q[0]:.3g} zp={gr.in_q[1]}")
    return gr


def tanh_graph(seed: int) -> Graph:
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(1, 40))
    gr = Graph(rng, (1, n), (log_uniform(rng, 1e-3, 2.0), int(rng.integers(-128, 128))), (1 / 128, 0))
    y = gr.out(gr.shape)
    gr.g.op("TANH", [gr.x], [y])
    gr.add_branch(y, gr.shape, f"TANH in_scale={gr.in_q[0]:.3g} zp={gr.in_q[1]}")
    return gr


def broadcast_shape(rng: np.random.Generator, shape: tuple[int, ...]) -> tuple[int, ...]:
    """A shape that broadcasts against ``shape`` (NHWC): same, per-channel, per-row, scalar, ..."""
    kind = rng.choice(["same", "channel", "row", "col", "scalar", "rank2", "hw"])
    _, h, w, c = shape
    return {"same": shape, "channel": (1, 1, 1, c), "row": (1, h, 1, 1), "col": (1, 1, w, c), "scalar": (1,),
            "rank2": (w, c), "hw": (1, h, w, 1)}[str(kind)]


def arithmetic_graph(seed: int) -> Graph:
    """ADD, MUL (constant operands broadcast either side, x op x), MEAN (any axes, keep_dims or
    not), QUANTIZE int8 -> int8; all sharing one random output quantization."""
    rng = np.random.default_rng(200 + seed)
    h, w, c = (int(v) for v in rng.integers(1, 7, size=3))
    in_q = (log_uniform(rng, 2e-3, 0.5), int(rng.integers(-128, 128)))
    out_q = (log_uniform(rng, 2e-3, 0.5), int(rng.integers(-100, 100)))
    gr = Graph(rng, (1, h, w, c), in_q, out_q)
    g = gr.g
    for _ in range(int(rng.integers(4, 9))):
        kind = str(rng.choice(["ADD", "MUL", "MEAN", "QUANTIZE"]))
        if kind in ("ADD", "MUL"):
            act = str(rng.choice(ACTS))
            if rng.random() < 0.2:
                a, b, what = gr.x, gr.x, "x, x"
            else:
                cshape = broadcast_shape(rng, gr.shape)
                cq = (log_uniform(rng, 2e-3, 0.5), int(rng.integers(-128, 128)))
                cst = g.tensor(cshape, data=rng.integers(-128, 128, size=cshape).astype(np.int8), scale=cq[0],
                               zero_point=cq[1])
                a, b = (gr.x, cst) if rng.random() < 0.6 else (cst, gr.x)
                what = f"x{gr.shape}, const{cshape}" if a == gr.x else f"const{cshape}, x{gr.shape}"
            y = gr.out(gr.shape)
            opts = {"fused_activation_function": act}
            g.op(kind, [a, b], [y], **opts)
            gr.add_branch(y, gr.shape, f"{kind}({what}) {act}")
        elif kind == "MEAN":
            axes = sorted(int(v) for v in rng.choice(4, size=int(rng.integers(1, 4)), replace=False))
            if rng.random() < 0.5:
                axes = [1, 2]  # the global average pool of MobileNet
            keep = bool(rng.random() < 0.5)
            shape = tuple(1 if i in axes else d for i, d in enumerate(gr.shape)) if keep else \
                tuple(d for i, d in enumerate(gr.shape) if i not in axes)
            stored = [a - 4 if rng.random() < 0.3 else a for a in axes]  # negative axes too
            ax = g.tensor((len(stored),), "int32", data=np.array(stored, dtype=np.int32))
            y = gr.out(shape)
            g.op("MEAN", [gr.x, ax], [y], keep_dims=keep)
            gr.add_branch(y, shape, f"MEAN axes={stored} keep_dims={keep} on {gr.shape}")
        else:
            y = gr.out(gr.shape)
            g.op("QUANTIZE", [gr.x], [y])
            gr.add_branch(y, gr.shape, f"QUANTIZE int8 {in_q} -> {out_q}")
    return gr


@pytest.mark.parametrize("seed", range(5))
def test_softmax_logistic_match_tflm(seed: int) -> None:
    gr = sigmoid_graph(seed)
    check(gr, random_input(gr.rng, gr.shape))


@pytest.mark.parametrize("seed", range(3))
def test_tanh_matches_tflm(seed: int) -> None:
    gr = tanh_graph(seed)
    check(gr, random_input(gr.rng, gr.shape))


@pytest.mark.parametrize("seed", range(6))
def test_add_mul_mean_requantize_match_tflm(seed: int) -> None:
    gr = arithmetic_graph(seed)
    check(gr, random_input(gr.rng, gr.shape))


def float_io_graph(seed: int) -> tuple[bytes, float]:
    """float32 -> QUANTIZE -> TANH / ADD const -> DEQUANTIZE -> float32, the --float-io edges."""
    rng = np.random.default_rng(300 + seed)
    n = int(rng.integers(4, 33))
    g = GraphBuilder()
    x = g.tensor((1, n), "float32", name="input")
    q_in = (log_uniform(rng, 1e-3, 0.2), int(rng.integers(-128, 128)))
    xq = g.tensor((1, n), scale=q_in[0], zero_point=q_in[1])
    g.op("QUANTIZE", [x], [xq])
    if seed % 2:
        yq = g.tensor((1, n), scale=1 / 128, zero_point=0)
        g.op("TANH", [xq], [yq])
    else:
        yq = g.tensor((1, n), scale=log_uniform(rng, 1e-3, 0.2), zero_point=int(rng.integers(-128, 128)))
        cst = g.tensor((n,), data=rng.integers(-128, 128, size=n).astype(np.int8), scale=0.01, zero_point=3)
        g.op("ADD", [xq, cst], [yq], fused_activation_function="NONE")
    y = g.tensor((1, n), "float32", name="output")
    g.op("DEQUANTIZE", [yq], [y])
    return g.build([x], [y]), q_in[0]


@pytest.mark.parametrize("seed", range(4))
def test_float_io_quantize_dequantize_match_tflm(seed: int) -> None:
    raw, scale = float_io_graph(seed)
    model = parse(raw)
    n = model.input_tensors()[0].shape[1]
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((SAMPLES, n)) * 150 * scale).astype(np.float32)  # beyond the int8 range too
    # exact halves of the input step: round-half-away-from-zero must match std::round
    halves = (np.arange(n) - n // 2 + 0.5).astype(np.float64) * np.float64(np.float32(scale))
    x[0] = halves.astype(np.float32)
    x[1] = -x[0]
    x[2] = 0.0
    want = run_reference(raw, x)
    got = run_aot(model, x)
    assert got.dtype == np.float32 and want.dtype == np.float32
    assert got.tobytes() == want.tobytes(), f"aot {got[:3]} tflm {want[:3]}"
