"""A TF-free test graph that sends data through every variant of the fast int8 kernels.

The fast paths (firmware/src/kernels/*_fast.c, mat_mult.c) choose a variant per layer from its
shape and quantization; this graph has one branch per variant, each flattened and concatenated
into the single output, so one comparison with the TFLM interpreter covers all of them:

- CONV_2D (the matrix-multiply path planned at generation time, ops/_mm.py): 1x1 stride 1 (the
  input is the col in portable C), taps of in_c % 4 == 0 widened straight from the input, taps of
  in_c % 4 != 0 through an int8 patch (k % 4 tails: zero weights), odd output channels (a padding
  row), SAME padding (taps holding the zero point), stride 2, dilation 2, two pixels per pass
  (k4 <= 576, or 460 with a patch), one pixel per pass with and without a patch, the reference
  loop (k > 1152, and channels that need both a left and a right shift); requantization variants
  r_sat, r_clamp, l_sat (multiplier > 1: a left shift) and l_clamp;
- DEPTHWISE_CONV_2D: 3x3 with the generator's packed constants (dw3: strides 1 and 2, SAME and
  VALID, odd and even output widths, rows wider than the window buffer (segments), groups of 4
  channels and partial groups of 3 and 2, the DSP row loop and the clamped C row loop, per-tensor
  weights), 3x3 not packed (multiplier > 1),
  2x2 stride 2, dilation, depth multiplier 2 (reference);
- FULLY_CONNECTED: odd units, depth % 4 of 1, 2 and 3 (a zero-padded copy), depth % 4 == 0,
  depth > 1152 (reference), per-tensor weights; depth 1, 2, 3 and 4 (one record per unit) with
  several batches, one and odd units, each requantization variant;
- ADD: same shapes (tables + short output rescale) with and without an activation, x + x, and
  a broadcast operand (reference loop);
- MAX_POOL_2D / AVERAGE_POOL_2D: 4 channels per pass and channel tails, clipped (SAME) windows, a
  fused activation, an average over more than 256 taps (32-bit sums);
- requantization: the whole int8 range (SSAT) and an activation bound (RELU, RELU6), right and
  left shifts (a multiplier > 1), and both in one layer (the reference loop).
"""

from __future__ import annotations

import numpy as np

from tinyml.codegen.aot.quant import output_size
from tinyml.codegen.aot.synth import GraphBuilder


class _Graph:
    def __init__(self, seed: int, shape: tuple[int, int, int, int], in_q: tuple[float, int],
                 out_q: tuple[float, int]):
        self.rng = np.random.default_rng(seed)
        self.g = GraphBuilder()
        self.in_q, self.out_q = in_q, out_q
        self.x = self.g.tensor(shape, scale=in_q[0], zero_point=in_q[1], name="input")
        self.shape = shape
        self.outs: list[tuple[int, int]] = []
        self.names: list[str] = []

    def weights(self, shape: tuple[int, ...], channels: int, per_channel: bool, big: bool | str = False) -> tuple:
        """big: scales whose multipliers exceed 1 (left shifts); "mixed": around 0.5 (both kinds)."""
        data = self.rng.integers(-127, 128, size=shape).astype(np.int8)
        lo, hi = {True: (np.log(0.3), np.log(2.0)), "mixed": (np.log(0.02), np.log(1.0))}.get(
            big, (np.log(2e-4), np.log(2e-2)))
        scales = np.exp(self.rng.uniform(lo, hi, size=channels if per_channel else 1))
        return data, [float(s) for s in scales]

    def bias(self, channels: int, in_scale: float, w_scales: list[float]) -> int:
        data = self.rng.integers(-20000, 20000, size=channels).astype(np.int32)
        scales = [in_scale * s for s in (w_scales if len(w_scales) > 1 else w_scales * channels)]
        return self.g.tensor((channels,), "int32", data=data, scale=scales, zero_point=[0] * channels)

    def flatten(self, t: int, n: int, what: str) -> None:
        g = self.g
        flat = g.tensor((1, n), scale=self.out_q[0], zero_point=self.out_q[1])
        shape = g.tensor((2,), "int32", data=np.array([1, n], dtype=np.int32))
        g.op("RESHAPE", [t, shape], [flat], new_shape=[1, n])
        self.outs.append((flat, n))
        self.names.append(what)

    def conv(self, src: int, src_shape: tuple[int, ...], src_q: tuple[float, int], oc: int, k: tuple[int, int], *,
             stride: int = 1, dilation: int = 1, padding: str = "SAME", act: str = "NONE", per_channel: bool = True,
             big: bool | str = False, groups: int = 1, out_q: tuple[float, int] | None = None,
             flatten: bool = True) -> tuple[int, tuple[int, ...]]:
        g = self.g
        _, h, w, c = src_shape
        oh, ow = output_size(padding, h, k[0], stride, dilation), output_size(padding, w, k[1], stride, dilation)
        wd, ws = self.weights((oc, k[0], k[1], c // groups), oc, per_channel, big)
        wt = g.tensor((oc, k[0], k[1], c // groups), data=wd, scale=ws, zero_point=[0] * len(ws), axis=0)
        q = out_q or self.out_q
        y = g.tensor((1, oh, ow, oc), scale=q[0], zero_point=q[1])
        g.op("CONV_2D", [src, wt, self.bias(oc, src_q[0], ws)], [y], padding=padding, stride_h=stride,
             stride_w=stride, dilation_h_factor=dilation, dilation_w_factor=dilation, fused_activation_function=act)
        if flatten:
            self.flatten(y, oh * ow * oc, f"CONV_2D {k[0]}x{k[1]}x{c // groups}->{oc} s{stride} d{dilation} "
                                          f"{padding} {act} pc={per_channel} big={big} groups={groups}")
        return y, (1, oh, ow, oc)

    def depthwise(self, src: int, src_shape: tuple[int, ...], src_q: tuple[float, int], k: tuple[int, int], *,
                  mult: int = 1, stride: int = 1, dilation: int = 1, padding: str = "SAME", act: str = "NONE",
                  per_channel: bool = True, big: bool = False, out_q: tuple[float, int] | None = None,
                  flatten: bool = True) -> tuple[int, tuple[int, ...]]:
        g = self.g
        _, h, w, c = src_shape
        oc = c * mult
        oh, ow = output_size(padding, h, k[0], stride, dilation), output_size(padding, w, k[1], stride, dilation)
        wd, ws = self.weights((1, k[0], k[1], oc), oc, per_channel, big)
        wt = g.tensor((1, k[0], k[1], oc), data=wd, scale=ws, zero_point=[0] * len(ws), axis=3)
        q = out_q or self.out_q
        y = g.tensor((1, oh, ow, oc), scale=q[0], zero_point=q[1])
        g.op("DEPTHWISE_CONV_2D", [src, wt, self.bias(oc, src_q[0], ws)], [y], padding=padding, stride_h=stride,
             stride_w=stride, dilation_h_factor=dilation, dilation_w_factor=dilation, depth_multiplier=mult,
             fused_activation_function=act)
        if flatten:
            self.flatten(y, oh * ow * oc, f"DEPTHWISE_CONV_2D {k[0]}x{k[1]} c={c} m={mult} s{stride} d{dilation} "
                                          f"{padding} {act} pc={per_channel} big={big}")
        return y, (1, oh, ow, oc)

    def pool(self, opcode: str, src: int, src_shape: tuple[int, ...], k: tuple[int, int], *, stride: int = 1,
             padding: str = "VALID", act: str = "NONE") -> None:
        """A pool of a tensor quantized like the graph's output (a pool keeps its input's scale and
        zero point; the concatenation wants the output's)."""
        _, h, w, c = src_shape
        oh, ow = output_size(padding, h, k[0], stride, 1), output_size(padding, w, k[1], stride, 1)
        y = self.g.tensor((1, oh, ow, c), scale=self.out_q[0], zero_point=self.out_q[1])
        self.g.op(opcode, [src], [y], padding=padding, stride_h=stride, stride_w=stride, filter_height=k[0],
                  filter_width=k[1], fused_activation_function=act)
        self.flatten(y, oh * ow * c, f"{opcode} {k[0]}x{k[1]} c={c} s{stride} {padding} {act}")

    def fc(self, src: int, depth: int, src_q: tuple[float, int], units: int, *, act: str = "NONE",
           per_channel: bool = True, batches: int = 1, big: bool = False) -> None:
        g = self.g
        flat = g.tensor((batches, depth), scale=src_q[0], zero_point=src_q[1])
        shape = g.tensor((2,), "int32", data=np.array([batches, depth], dtype=np.int32))
        g.op("RESHAPE", [src, shape], [flat], new_shape=[batches, depth])
        wd, ws = self.weights((units, depth), units, per_channel, big)
        wt = g.tensor((units, depth), data=wd, scale=ws, zero_point=[0] * len(ws), axis=0)
        y = g.tensor((batches, units), scale=self.out_q[0], zero_point=self.out_q[1])
        g.op("FULLY_CONNECTED", [flat, wt, self.bias(units, src_q[0], ws)], [y], fused_activation_function=act)
        self.flatten(y, batches * units, f"FULLY_CONNECTED {batches}x{depth}->{units} {act} pc={per_channel} big={big}")

    def add(self, a: int, b: int, shape: tuple[int, ...], act: str = "NONE") -> None:
        y = self.g.tensor(shape, scale=self.out_q[0], zero_point=self.out_q[1])
        self.g.op("ADD", [a, b], [y], fused_activation_function=act)
        self.flatten(y, int(np.prod(shape)), f"ADD {shape} {act}")

    def build(self) -> bytes:
        # TFLM's CONCATENATION takes at most 10 inputs: concatenate in groups, then the groups
        parts = []
        for i in range(0, len(self.outs), 8):
            group = self.outs[i:i + 8]
            n = sum(size for _, size in group)
            t = self.g.tensor((1, n), scale=self.out_q[0], zero_point=self.out_q[1])
            self.g.op("CONCATENATION", [g for g, _ in group], [t], axis=1, fused_activation_function="NONE")
            parts.append((t, n))
        total = sum(n for _, n in parts)
        y = self.g.tensor((1, total), scale=self.out_q[0], zero_point=self.out_q[1], name="output")
        self.g.op("CONCATENATION", [t for t, _ in parts], [y], axis=1, fused_activation_function="NONE")
        return self.g.build([self.x], [y])


def variants_graph(seed: int = 0) -> tuple[bytes, list[str]]:
    """(.tflite bytes, branch descriptions) of the all-variants graph; deterministic per seed.
    Seeds 0, 1, 2 give input zero points 3, -128 and 127 (input offsets at both int16 extremes)."""
    shape = (1, 6, 7, 36)
    in_q, out_q, mid_q = (0.05, (3, -128, 127)[seed % 3]), (0.02, -5), (0.03, -128)
    gr = _Graph(seed, shape, in_q, out_q)
    x = gr.x
    gr.conv(x, shape, in_q, 7, (1, 1), act="NONE")                          # 1x1, odd out_c, SSAT
    gr.conv(x, shape, in_q, 6, (1, 1), act="RELU6", per_channel=False)      # activation bound
    gr.conv(x, shape, in_q, 5, (3, 3), stride=2)                            # k = 324: two pixels per pass
    gr.conv(x, shape, in_q, 3, (5, 5), padding="VALID")                     # k = 900: one pixel per pass
    gr.conv(x, shape, in_q, 2, (6, 6), padding="VALID")                     # k = 1296: reference loop
    gr.conv(x, shape, in_q, 3, (1, 1), big=True)                            # multiplier > 1: l_sat
    gr.conv(x, shape, in_q, 4, (1, 1), big=True, act="RELU")                # l_clamp
    gr.conv(x, shape, in_q, 8, (1, 1), big="mixed")                         # left and right shifts: reference
    gr.depthwise(x, shape, in_q, (3, 3))                                    # 3-wide window, 9 groups of 4
    gr.depthwise(x, shape, in_q, (2, 2), stride=2, padding="VALID", act="RELU6")
    gr.depthwise(x, shape, in_q, (3, 3), dilation=2)
    gr.depthwise(x, shape, in_q, (3, 1), mult=2)                            # depth multiplier 2: reference
    # 3x3 packed path (dw3): stride 2 SAME (no top pad, left pad, zero-point right column), stride 2
    # VALID with RELU6 (the C row loop in DSP builds too), a multiplier > 1 (not packed: generic path)
    gr.depthwise(x, shape, in_q, (3, 3), stride=2)
    gr.depthwise(x, shape, in_q, (3, 3), stride=2, padding="VALID", act="RELU6")
    gr.depthwise(x, shape, in_q, (3, 3), big=True)
    # a 7-channel tensor (odd: 4 + 2 + 1 channel tails, k*c % 4 != 0) and a 2-channel one
    t7, s7 = gr.conv(x, shape, in_q, 7, (1, 1), act="RELU", out_q=mid_q, flatten=False)
    gr.depthwise(t7, s7, mid_q, (3, 3), stride=1)
    gr.depthwise(t7, s7, mid_q, (5, 3), stride=2, per_channel=False)
    gr.conv(t7, s7, mid_q, 9, (3, 3))                                       # k = 63, pairs, odd out_c
    gr.conv(t7, s7, mid_q, 2, (2, 3), stride=2, dilation=1, padding="SAME")
    gr.conv(t7, s7, mid_q, 3, (9, 9), act="RELU")                            # k = 567 with a patch: one pixel
    t2, s2 = gr.conv(x, shape, in_q, 2, (1, 1), out_q=mid_q, flatten=False)
    gr.depthwise(t2, s2, mid_q, (3, 3))                                     # 2 channels: one partial group
    # an even-width tensor: stride-1 rows of output pairs only, stride 2 with an odd tail,
    # per-tensor weights with RELU (clamped: C row loop)
    t6, s6 = gr.depthwise(x, shape, in_q, (1, 2), padding="VALID", out_q=mid_q, flatten=False)
    gr.depthwise(t6, s6, mid_q, (3, 3))
    gr.depthwise(t6, s6, mid_q, (3, 3), stride=2)
    gr.depthwise(t6, s6, mid_q, (3, 3), act="RELU", per_channel=False)
    # a wide row (the input seen as 2 x 189 x 4): rows in several window-buffer segments, the last
    # one odd (stride 1: 48 + 48 + 48 + 45 outputs; stride 2: 25 + 25 + 25 + 20)
    wide = gr.g.tensor((1, 2, 189, 4), scale=in_q[0], zero_point=in_q[1])
    wshape = gr.g.tensor((4,), "int32", data=np.array([1, 2, 189, 4], dtype=np.int32))
    gr.g.op("RESHAPE", [x, wshape], [wide], new_shape=[1, 2, 189, 4])
    gr.depthwise(wide, (1, 2, 189, 4), in_q, (3, 3))
    gr.depthwise(wide, (1, 2, 189, 4), in_q, (3, 3), stride=2)
    # pooling fast paths: 4 channels per pass (DSP: SSUB8/SEL max, 16-bit lane sums up to 256
    # taps), channel tails, clipped windows (SAME), a fused activation, more than 256 taps; the
    # pooled tensors (1x1 depthwise, generic path) carry the output's quantization
    q36, s36 = gr.depthwise(x, shape, in_q, (1, 1), padding="VALID", flatten=False)
    q7, s7o = gr.depthwise(t7, s7, mid_q, (1, 1), padding="VALID", flatten=False)
    qw, sw = gr.depthwise(wide, (1, 2, 189, 4), in_q, (1, 1), padding="VALID", flatten=False)
    gr.pool("MAX_POOL_2D", q36, s36, (2, 2), stride=2)
    gr.pool("MAX_POOL_2D", q7, s7o, (3, 3), padding="SAME")
    gr.pool("MAX_POOL_2D", q36, s36, (3, 2), act="RELU6")
    gr.pool("AVERAGE_POOL_2D", q36, s36, (6, 7))
    gr.pool("AVERAGE_POOL_2D", q7, s7o, (3, 3), stride=2, padding="SAME")
    gr.pool("AVERAGE_POOL_2D", qw, sw, (2, 150))
    gr.fc(t7, 6 * 7 * 7, mid_q, 9)                                          # depth 294 (% 4 = 2), odd units
    gr.fc(t2, 6 * 7 * 2, mid_q, 4, act="RELU6", per_channel=False)
    gr.fc(x, 6 * 7 * 36, in_q, 3)                                           # depth 1512: reference loop
    t27, _ = gr.conv(x, shape, in_q, 3, (2, 3), stride=2, padding="VALID", out_q=mid_q, flatten=False)
    gr.fc(t27, 27, mid_q, 6)                                                # depth % 4 = 3, two row pairs + one
    t45, _ = gr.conv(x, shape, in_q, 5, (2, 3), stride=2, padding="VALID", out_q=mid_q, flatten=False)
    gr.fc(t45, 45, mid_q, 5, act="RELU")                                    # depth % 4 = 1
    # depth 1..4 (tinyml_fc_small_*: one record per unit, no padding to 4), several batches, the
    # four requantization variants, input zero points 3 / -128 / 127 (xs: every third pixel of x,
    # a 1x1 max pool keeps its scale and zero point) and -128 (t2)
    xs = gr.g.tensor((1, 2, 3, 36), scale=in_q[0], zero_point=in_q[1])
    gr.g.op("MAX_POOL_2D", [x], [xs], padding="VALID", stride_h=3, stride_w=3, filter_height=1, filter_width=1,
            fused_activation_function="NONE")
    gr.fc(xs, 1, in_q, 1, batches=216, act="RELU6", big=True)               # l_clamp, one unit
    gr.fc(xs, 2, in_q, 3, batches=108, act="RELU")                          # r_clamp (out zp -5)
    gr.fc(xs, 3, in_q, 5, batches=72, big=True)                             # l_sat
    gr.fc(t2, 1, mid_q, 3, batches=84)                                      # r_sat
    gr.fc(t2, 3, mid_q, 2, batches=28, per_channel=False)
    gr.fc(t2, 4, mid_q, 9, batches=21, act="RELU")
    gr.add(t7, gr.conv(x, shape, in_q, 7, (1, 1), out_q=in_q, flatten=False)[0], s7)  # two scales
    gr.add(t2, t2, s2, act="RELU6")                                         # x + x, activation bound
    c7 = gr.g.tensor((1, 1, 1, 7), data=gr.rng.integers(-128, 128, size=(1, 1, 1, 7)).astype(np.int8), scale=0.04,
                     zero_point=10)
    gr.add(t7, c7, s7)                                                      # broadcast: reference loop
    return gr.build(), gr.names
