"""aot engine vs the TFLM host interpreter on random graphs built without TensorFlow.

Each case is one graph: a random input, several random branches of the ops under test (random
shapes, strides, padding, dilation, activations, per-channel/per-tensor weights, scales from
tiny to >1 multipliers), each flattened and concatenated into the single output. The generated C
must reproduce TFLM byte for byte on random int8 inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from tinyml.codegen.aot.host import run_aot
from tinyml.codegen.aot.quant import output_size
from tinyml.codegen.aot.synth import GraphBuilder
from tinyml.model.reference import run_reference
from tinyml.model.tflite import parse

pytestmark = pytest.mark.codegen

ACTS = ["NONE", "RELU", "RELU6", "RELU_N1_TO_1"]
SAMPLES = 12


@dataclass
class Branch:
    what: str
    out: int  # tensor index of the flattened (1, n) branch output
    size: int


class Graph:
    """A random single-input graph whose branches all end in one CONCATENATION."""

    def __init__(self, rng: np.random.Generator, shape: tuple[int, ...], in_scale: float, in_zp: int):
        self.rng = rng
        self.g = GraphBuilder()
        self.shape = shape
        self.in_q = (in_scale, in_zp)
        self.x = self.g.tensor(shape, scale=in_scale, zero_point=in_zp, name="input")
        self.branches: list[Branch] = []

    def act(self) -> str:
        return str(self.rng.choice(ACTS))

    def flatten(self, t: int, n: int, q: tuple[float, int], what: str) -> None:
        flat = self.g.tensor((1, n), scale=q[0], zero_point=q[1])
        shape = self.g.tensor((2,), "int32", data=np.array([1, n], dtype=np.int32))
        self.g.op("RESHAPE", [t, shape], [flat], new_shape=[1, n])
        self.branches.append(Branch(what, flat, n))

    def build(self, out_q: tuple[float, int]) -> bytes:
        total = sum(b.size for b in self.branches)
        y = self.g.tensor((1, total), scale=out_q[0], zero_point=out_q[1], name="output")
        self.g.op("CONCATENATION", [b.out for b in self.branches], [y], axis=1, fused_activation_function="NONE")
        return self.g.build([self.x], [y])

    def describe(self, flat_index: int) -> str:
        start = 0
        for b in self.branches:
            if flat_index < start + b.size:
                return f"{b.what} (element {flat_index - start})"
            start += b.size
        return "?"


def weights(rng: np.random.Generator, shape: tuple[int, ...], channels: int, per_channel: bool) -> tuple:
    data = rng.integers(-127, 128, size=shape).astype(np.int8)
    scales = np.exp(rng.uniform(np.log(2e-4), np.log(5e-2), size=channels if per_channel else 1))
    return data, [float(s) for s in scales]


def bias(rng: np.random.Generator, g: GraphBuilder, channels: int, in_scale: float, w_scales: list[float],
         optional: bool = True):
    if optional and rng.random() < 0.25:
        return -1
    data = rng.integers(-20000, 20000, size=channels).astype(np.int32)
    scales = [in_scale * s for s in (w_scales if len(w_scales) > 1 else w_scales * channels)]
    return g.tensor((channels,), "int32", data=data, scale=scales, zero_point=[0] * channels)


def conv_like_graph(seed: int) -> tuple[Graph, tuple[float, int]]:
    """CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED branches sharing one output quantization."""
    rng = np.random.default_rng(seed)
    h, w, c = int(rng.integers(1, 10)), int(rng.integers(1, 10)), int(rng.integers(1, 6))
    in_scale = float(np.exp(rng.uniform(np.log(0.005), np.log(0.2))))
    gr = Graph(rng, (1, h, w, c), in_scale, int(rng.integers(-128, 128)))
    # > 1 multipliers happen when the output scale is small: the shared output scale covers both
    out_q = (float(np.exp(rng.uniform(np.log(1e-4), np.log(0.05)))), int(rng.integers(-100, 100)))
    g = gr.g
    for _ in range(int(rng.integers(4, 8))):
        kind = rng.choice(["conv", "depthwise", "fc", "dilated"])
        per_channel = bool(rng.random() < 0.6)
        act = gr.act()
        if kind == "dilated":
            dilated_branch(gr, out_q, per_channel)
            continue
        if kind == "fc":
            depth = h * w * c
            units = int(rng.integers(1, 10))
            flat = g.tensor((1, depth), scale=in_scale, zero_point=gr.in_q[1])
            shape = g.tensor((2,), "int32", data=np.array([1, depth], dtype=np.int32))
            g.op("RESHAPE", [gr.x, shape], [flat], new_shape=[1, depth])
            wd, ws = weights(rng, (units, depth), units, per_channel)
            wt = g.tensor((units, depth), data=wd, scale=ws, zero_point=[0] * len(ws), axis=0)
            b = bias(rng, g, units, in_scale, ws)
            y = g.tensor((1, units), scale=out_q[0], zero_point=out_q[1])
            g.op("FULLY_CONNECTED", [flat, wt, b], [y], fused_activation_function=act)
            gr.flatten(y, units, out_q, f"FULLY_CONNECTED {depth}->{units} pc={per_channel} bias={b >= 0} {act}")
            continue
        padding = str(rng.choice(["SAME", "VALID"]))
        kh, kw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        sh, sw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        dh, dw = (int(rng.integers(1, 3)), int(rng.integers(1, 3))) if rng.random() < 0.4 else (1, 1)
        oh, ow = output_size(padding, h, kh, sh, dh), output_size(padding, w, kw, sw, dw)
        if oh <= 0 or ow <= 0:
            padding, kh, kw, dh, dw = "SAME", 1, 1, 1, 1
            oh, ow = output_size(padding, h, kh, sh), output_size(padding, w, kw, sw)
        geo = dict(padding=padding, stride_h=sh, stride_w=sw, dilation_h_factor=dh, dilation_w_factor=dw,
                   fused_activation_function=act)
        if kind == "conv":
            oc = int(rng.integers(1, 7))
            wd, ws = weights(rng, (oc, kh, kw, c), oc, per_channel)
            wt = g.tensor((oc, kh, kw, c), data=wd, scale=ws, zero_point=[0] * len(ws), axis=0)
            op, opts = "CONV_2D", geo
        else:
            mult = int(rng.integers(1, 4))
            oc = c * mult
            wd, ws = weights(rng, (1, kh, kw, oc), oc, per_channel)
            wt = g.tensor((1, kh, kw, oc), data=wd, scale=ws, zero_point=[0] * len(ws), axis=3)
            op, opts = "DEPTHWISE_CONV_2D", dict(geo, depth_multiplier=mult)
        # the TFLM host build crashes (SIGSEGV in Prepare) on a DEPTHWISE_CONV_2D without bias
        b = bias(rng, g, oc, in_scale, ws, optional=op == "CONV_2D")
        y = g.tensor((1, oh, ow, oc), scale=out_q[0], zero_point=out_q[1])
        g.op(op, [gr.x, wt, b], [y], **opts)
        gr.flatten(y, oh * ow * oc, out_q, f"{op} in {gr.shape} k={kh}x{kw} out_c={oc} {opts} pc={per_channel}")
    return gr, out_q


def dilated_branch(gr: Graph, out_q: tuple[float, int], per_channel: bool) -> None:
    """SPACE_TO_BATCH_ND -> CONV_2D or DEPTHWISE_CONV_2D (VALID) -> BATCH_TO_SPACE_ND -> RELU/RELU6:
    what the converter makes of a SAME dilated convolution, with random paddings and crops."""
    rng, g = gr.rng, gr.g
    _, h, w, c = gr.shape
    bh, bw = int(rng.integers(1, 3)), int(rng.integers(2, 4))
    pt, pl = int(rng.integers(0, 3)), int(rng.integers(0, 3))
    pb, pr = (-(h + pt)) % bh + bh * int(rng.integers(0, 2)), (-(w + pl)) % bw
    sh, sw = (h + pt + pb) // bh, (w + pl + pr) // bw
    kh, kw = int(rng.integers(1, min(sh, 3) + 1)), int(rng.integers(1, min(sw, 3) + 1))
    q_in = gr.in_q
    s2b = g.tensor((bh * bw, sh, sw, c), scale=q_in[0], zero_point=q_in[1])
    g.op("SPACE_TO_BATCH_ND", [gr.x, g.tensor((2,), "int32", data=np.array([bh, bw], np.int32)),
                               g.tensor((2, 2), "int32", data=np.array([[pt, pb], [pl, pr]], np.int32))], [s2b],
         options_type="SpaceToBatchNDOptions")
    oh, ow = sh - kh + 1, sw - kw + 1
    mid = (float(np.exp(rng.uniform(np.log(1e-3), np.log(0.05)))), int(rng.integers(-50, 50)))
    depthwise = bool(rng.random() < 0.5)
    oc = c * int(rng.integers(1, 3)) if depthwise else int(rng.integers(1, 5))
    shape = (1, kh, kw, oc) if depthwise else (oc, kh, kw, c)
    wd, ws = weights(rng, shape, oc, per_channel)
    wt = g.tensor(shape, data=wd, scale=ws, zero_point=[0] * len(ws), axis=3 if depthwise else 0)
    b = bias(rng, g, oc, q_in[0], ws, optional=not depthwise)
    conv = g.tensor((bh * bw, oh, ow, oc), scale=mid[0], zero_point=mid[1])
    opts = dict(padding="VALID", stride_h=1, stride_w=1, fused_activation_function="NONE")
    if depthwise:
        g.op("DEPTHWISE_CONV_2D", [s2b, wt, b], [conv], depth_multiplier=oc // c, **opts)
    else:
        g.op("CONV_2D", [s2b, wt, b], [conv], **opts)
    ct, cb, cl, cr = (int(rng.integers(0, min(2, oh * bh - 1))), 0, int(rng.integers(0, min(2, ow * bw - 1))), 1)
    fh, fw = oh * bh - ct - cb, ow * bw - cl - cr
    act = str(rng.choice(["RELU", "RELU6", "NONE"]))
    b2s = g.tensor((1, fh, fw, oc), scale=mid[0], zero_point=mid[1])
    g.op("BATCH_TO_SPACE_ND", [conv, g.tensor((2,), "int32", data=np.array([bh, bw], np.int32)),
                               g.tensor((2, 2), "int32", data=np.array([[ct, cb], [cl, cr]], np.int32))], [b2s],
         options_type="BatchToSpaceNDOptions")
    what = (f"S2B block {bh}x{bw} pad {[pt, pb, pl, pr]} -> {'DEPTHWISE' if depthwise else 'CONV'} {kh}x{kw} "
            f"-> B2S crops {[ct, cb, cl, cr]} -> {act}")
    if act == "RELU":
        y = g.tensor((1, fh, fw, oc), scale=out_q[0], zero_point=out_q[1])
        g.op("RELU", [b2s], [y])
    else:
        if act == "RELU6":  # TFLM's RELU6 keeps the input quantization
            r6 = g.tensor((1, fh, fw, oc), scale=mid[0], zero_point=mid[1])
            g.op("RELU6", [b2s], [r6])
            b2s = r6
        # requantize to the shared output through a 1x1 depthwise so the branch can join the concat
        one = g.tensor((1, 1, 1, oc), data=np.full((1, 1, 1, oc), 100, np.int8), scale=[0.01] * oc,
                       zero_point=[0] * oc, axis=3)
        y = g.tensor((1, fh, fw, oc), scale=out_q[0], zero_point=out_q[1])
        g.op("DEPTHWISE_CONV_2D", [b2s, one, bias(rng, g, oc, mid[0], [0.01] * oc, optional=False)], [y],
             padding="VALID", stride_h=1, stride_w=1, depth_multiplier=1, fused_activation_function="NONE")
    gr.flatten(y, fh * fw * oc, out_q, what)


def movement_graph(seed: int) -> tuple[Graph, tuple[float, int]]:
    """AVERAGE_POOL_2D, MAX_POOL_2D, PAD, PADV2, CONCATENATION (with a constant input), RESHAPE."""
    rng = np.random.default_rng(1000 + seed)
    h, w, c = int(rng.integers(1, 9)), int(rng.integers(1, 9)), int(rng.integers(1, 6))
    q = (float(np.exp(rng.uniform(np.log(0.005), np.log(0.2)))), int(rng.integers(-128, 128)))
    gr = Graph(rng, (1, h, w, c), *q)
    g = gr.g
    for _ in range(int(rng.integers(4, 8))):
        kind = rng.choice(["avg", "max", "pad", "padv2", "concat"])
        if kind in ("avg", "max"):
            padding = str(rng.choice(["SAME", "VALID"]))
            kh, kw = int(rng.integers(1, min(h, 3) + 1)), int(rng.integers(1, min(w, 3) + 1))
            sh, sw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
            oh, ow = output_size(padding, h, kh, sh), output_size(padding, w, kw, sw)
            act = gr.act()
            y = g.tensor((1, oh, ow, c), scale=q[0], zero_point=q[1])
            op = "AVERAGE_POOL_2D" if kind == "avg" else "MAX_POOL_2D"
            g.op(op, [gr.x], [y], padding=padding, stride_h=sh, stride_w=sw, filter_height=kh, filter_width=kw,
                 fused_activation_function=act)
            gr.flatten(y, oh * ow * c, q, f"{op} k={kh}x{kw} s={sh}x{sw} {padding} {act} on {gr.shape}")
        elif kind in ("pad", "padv2"):
            pads = rng.integers(0, 3, size=(4, 2)).astype(np.int32)
            pads[0] = 0
            out_shape = tuple(int(d + a + b) for d, (a, b) in zip(gr.shape, pads, strict=True))
            pt = g.tensor((4, 2), "int32", data=pads)
            y = g.tensor(out_shape, scale=q[0], zero_point=q[1])
            if kind == "padv2":
                cv = g.tensor((1,), data=np.array([rng.integers(-128, 128)], dtype=np.int8), scale=q[0],
                              zero_point=q[1])
                g.op("PADV2", [gr.x, pt, cv], [y], options_type="PadV2Options")
            else:
                g.op("PAD", [gr.x, pt], [y])
            gr.flatten(y, int(np.prod(out_shape)), q, f"{kind.upper()} {pads.tolist()} on {gr.shape}")
        else:
            axis = int(rng.integers(-4, 4))
            ax = axis % 4
            const_shape = list(gr.shape)
            const_shape[ax] = int(rng.integers(1, 3))
            cst = g.tensor(tuple(const_shape), data=rng.integers(-128, 128, size=const_shape).astype(np.int8),
                           scale=q[0], zero_point=q[1])
            out_shape = list(gr.shape)
            out_shape[ax] = 2 * gr.shape[ax] + const_shape[ax]
            y = g.tensor(tuple(out_shape), scale=q[0], zero_point=q[1])
            g.op("CONCATENATION", [gr.x, cst, gr.x], [y], axis=axis, fused_activation_function="NONE")
            gr.flatten(y, int(np.prod(out_shape)), q, f"CONCATENATION axis={axis} of {gr.shape}+const{const_shape}")
    return gr, q


def check(gr: Graph, out_q: tuple[float, int]) -> None:
    raw = gr.build(out_q)
    model = parse(raw)
    x = gr.rng.integers(-128, 128, size=(SAMPLES, *gr.shape[1:]), dtype=np.int8)
    want = run_reference(raw, x)
    got = run_aot(model, x)
    assert got.shape == want.shape and got.dtype == want.dtype
    bad = np.flatnonzero((got != want).any(axis=0))
    assert bad.size == 0, (f"{bad.size} output elements differ from TFLM; first in {gr.describe(int(bad[0]))}: "
                           f"aot {got[:, bad[0]].tolist()} tflm {want[:, bad[0]].tolist()}")


def chain_graph(seed: int) -> tuple[bytes, tuple[int, ...], list[str]]:
    """A chain of random CONV_2D / DEPTHWISE_CONV_2D / pooling ops, each consuming the previous
    output, so every input dies at its op: the planner streams outputs over their inputs."""
    rng = np.random.default_rng(500 + seed)
    g = GraphBuilder()
    shape = (1, int(rng.integers(5, 14)), int(rng.integers(3, 10)), int(rng.integers(1, 5)))
    q = (float(np.exp(rng.uniform(np.log(0.01), np.log(0.1)))), int(rng.integers(-60, 60)))
    x = cur = g.tensor(shape, scale=q[0], zero_point=q[1])
    steps = []
    for _ in range(int(rng.integers(3, 7))):
        _, h, w, c = shape
        kind = str(rng.choice(["conv", "depthwise", "avg", "max"]))
        padding = str(rng.choice(["SAME", "VALID"]))
        kh, kw = int(rng.integers(1, min(h, 4) + 1)), int(rng.integers(1, min(w, 4) + 1))
        sh, sw = int(rng.integers(1, 3)), int(rng.integers(1, 3))
        dh = int(rng.integers(1, 3)) if kind in ("conv", "depthwise") and (kh - 1) * 2 < h else 1
        oh, ow = output_size(padding, h, kh, sh, dh), output_size(padding, w, kw, sw)
        act = str(rng.choice(ACTS))
        if kind in ("avg", "max"):
            out_shape, out_q = (1, oh, ow, c), q
            y = g.tensor(out_shape, scale=q[0], zero_point=q[1])
            g.op("AVERAGE_POOL_2D" if kind == "avg" else "MAX_POOL_2D", [cur], [y], padding=padding, stride_h=sh,
                 stride_w=sw, filter_height=kh, filter_width=kw, fused_activation_function=act)
        else:
            oc = c * int(rng.integers(1, 3)) if kind == "depthwise" else int(rng.integers(1, 9))
            fshape = (1, kh, kw, oc) if kind == "depthwise" else (oc, kh, kw, c)
            wd, ws = weights(rng, fshape, oc, bool(rng.random() < 0.5))
            wt = g.tensor(fshape, data=wd, scale=ws, zero_point=[0] * len(ws), axis=3 if kind == "depthwise" else 0)
            b = bias(rng, g, oc, q[0], ws, optional=kind == "conv")
            out_shape = (1, oh, ow, oc)
            out_q = (float(np.exp(rng.uniform(np.log(0.01), np.log(0.1)))), int(rng.integers(-60, 60)))
            y = g.tensor(out_shape, scale=out_q[0], zero_point=out_q[1])
            opts = dict(padding=padding, stride_h=sh, stride_w=sw, dilation_h_factor=dh, dilation_w_factor=1,
                        fused_activation_function=act)
            if kind == "depthwise":
                g.op("DEPTHWISE_CONV_2D", [cur, wt, b], [y], depth_multiplier=oc // c, **opts)
            else:
                g.op("CONV_2D", [cur, wt, b], [y], **opts)
        steps.append(f"{kind} {shape}->{out_shape} k={kh}x{kw} s={sh}x{sw} d={dh} {padding} {act}")
        cur, shape, q = y, out_shape, out_q
    return g.build([x], [cur]), tuple(parse(g.build([x], [cur])).input_tensors()[0].shape), steps


@pytest.mark.parametrize("seed", range(8))
def test_streamed_chains_match_tflm(seed):
    from tinyml.codegen.aot import plan

    raw, in_shape, steps = chain_graph(seed)
    model = parse(raw)
    mem = plan(model)
    x = np.random.default_rng(seed).integers(-128, 128, size=(SAMPLES, *in_shape[1:]), dtype=np.int8)
    want, got = run_reference(raw, x), run_aot(model, x)
    assert np.array_equal(got, want), (f"{int((got != want).sum())} bytes differ; plan {mem.strategy} "
                                       f"{mem.arena_bytes} B; chain: " + " | ".join(steps))


@pytest.mark.parametrize("seed", range(8))
def test_conv_fc_match_tflm(seed):
    check(*conv_like_graph(seed))


@pytest.mark.parametrize("seed", range(6))
def test_pool_pad_concat_match_tflm(seed):
    check(*movement_graph(seed))
