"""aot engine: generation-time math, memory planner, generated API, error paths (no TensorFlow)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from tinyml.codegen.aot import generate, plan
from tinyml.codegen.aot.host import run_aot
from tinyml.codegen.aot.quant import activation_range, compute_padding, quantize_multiplier, tflite_round
from tinyml.codegen.aot.synth import GraphBuilder
from tinyml.errors import ErrorKind, TinymlError
from tinyml.model.tflite import parse

pytestmark = pytest.mark.codegen


# ---- quantization math ---------------------------------------------------------------------

@pytest.mark.parametrize("x, want", [(2.5, 3), (-2.5, -3), (0.5, 1), (-0.5, -1), (1.4999, 1),
                                     (0.49999999999999994, 0), (-0.49999999999999994, 0), (7.0, 7)])
def test_tflite_round_is_half_away_from_zero(x, want):
    assert tflite_round(x) == want


@pytest.mark.parametrize("real, want", [
    (0.5, (1 << 30, 0)),
    (1.0, (1 << 30, 1)),
    (0.75, (3 << 29, 0)),
    (3.0, (3 << 29, 2)),
    (1.0 - 2.0 ** -40, (1 << 30, 1)),  # q * 2^31 rounds up to 2^31: halved, shift + 1
    (2.0 ** -40, (0, 0)),  # shift below -31 flushes to zero
    (0.0, (0, 0)),
])
def test_quantize_multiplier_matches_tflm_cases(real, want):
    assert quantize_multiplier(real) == want


def test_quantize_multiplier_reconstructs_the_scale():
    rng = np.random.default_rng(0)
    for real in np.exp(rng.uniform(np.log(1e-6), np.log(50.0), size=200)):
        m, s = quantize_multiplier(float(real))
        assert (1 << 30) <= m < (1 << 31)
        assert abs(m * 2.0 ** (s - 31) - real) <= real * 2.0 ** -30


def test_activation_ranges():
    assert activation_range("NONE", 0.1, 3) == (-128, 127)
    assert activation_range("RELU", 0.1, -20) == (-20, 127)
    assert activation_range("RELU6", 0.05, -128) == (-128, -8)  # 6 / 0.05 = 120
    assert activation_range("RELU_N1_TO_1", 0.01, 0) == (-100, 100)
    assert activation_range("RELU6", 0.01, 0) == (0, 127)  # clamped to int8


def test_same_padding_puts_the_odd_pixel_at_the_end():
    assert compute_padding(1, 1, 5, 3, 5) == 1
    assert compute_padding(2, 1, 6, 3, 3) == 0  # total 1: 0 before, 1 after
    assert compute_padding(1, 2, 5, 3, 5) == 2  # dilation 2: effective window 5


# ---- a small chain graph ---------------------------------------------------------------------

def chain_model(units: int = 6) -> bytes:
    """input (1,6,6,2) -> CONV_2D -> MAX_POOL_2D -> RESHAPE -> FULLY_CONNECTED."""
    rng = np.random.default_rng(1)
    g = GraphBuilder()
    x = g.tensor((1, 6, 6, 2), scale=0.05, zero_point=-1, name="in")
    c = g.tensor((1, 6, 6, 8), scale=0.07, zero_point=4, name="conv")
    w = g.tensor((8, 3, 3, 2), data=rng.integers(-127, 128, size=(8, 3, 3, 2)).astype(np.int8),
                 scale=[0.01] * 8, zero_point=[0] * 8)
    g.op("CONV_2D", [x, w, -1], [c], padding="SAME", stride_h=1, stride_w=1, fused_activation_function="RELU")
    p = g.tensor((1, 3, 3, 8), scale=0.07, zero_point=4, name="pool")
    g.op("MAX_POOL_2D", [c], [p], padding="VALID", stride_h=2, stride_w=2, filter_height=2, filter_width=2)
    f = g.tensor((1, 72), scale=0.07, zero_point=4, name="flat")
    g.op("RESHAPE", [p, g.tensor((2,), "int32", data=np.array([1, 72], np.int32))], [f], new_shape=[1, 72])
    y = g.tensor((1, units), scale=0.2, zero_point=0, name="out")
    fw = g.tensor((units, 72), data=rng.integers(-127, 128, size=(units, 72)).astype(np.int8), scale=0.004)
    g.op("FULLY_CONNECTED", [f, fw, -1], [y])
    return g.build([x], [y])


def residual_model() -> bytes:
    """A ResNet block: x -> CONV a -> CONV b, then ADD(x, b); x lives across both convs."""
    rng = np.random.default_rng(2)
    g = GraphBuilder()
    x = g.tensor((1, 8, 8, 4), scale=0.05, zero_point=-3, name="x")

    def conv(src: int, name: str) -> int:
        out = g.tensor((1, 8, 8, 4), scale=0.06, zero_point=2, name=name)
        w = g.tensor((4, 3, 3, 4), data=rng.integers(-127, 128, size=(4, 3, 3, 4)).astype(np.int8),
                     scale=[0.004] * 4, zero_point=[0] * 4)
        g.op("CONV_2D", [src, w, -1], [out], padding="SAME", stride_h=1, stride_w=1)
        return out

    b = conv(conv(x, "a"), "b")
    y = g.tensor((1, 8, 8, 4), scale=0.1, zero_point=0, name="sum")
    g.op("ADD", [x, b], [y])
    return g.build([x], [y])


def test_plan_streams_the_second_conv_of_a_residual_block_beside_the_kept_input():
    """x, a and b are 256 B each and all alive at conv b: 768 B without streaming. b may start
    D = 64 B (two 32 B rows) below a, so x + a + D = 576 B suffice, and the block stays exact."""
    from tinyml.model.reference import run_reference

    raw = residual_model()
    model = parse(raw)
    mem = plan(model)
    assert mem.live_peak_bytes == 768
    assert mem.arena_bytes == 576
    x = np.random.default_rng(3).integers(-128, 128, size=(3, 8, 8, 4), dtype=np.int8)
    assert np.array_equal(run_aot(model, x), run_reference(raw, x))


def test_plan_reuses_memory_and_never_overlaps_live_tensors():
    model = parse(chain_model())
    mem = plan(model)
    by_name = {model.tensors[t].name: t for t in mem.offsets}
    # RESHAPE is an alias: same storage, no copy
    assert mem.offset(by_name["flat"]) == mem.offset(by_name["pool"])
    assert mem.arena_bytes < mem.naive_bytes
    buf = {n: next(b for b in mem.buffers if by_name[n] in b.tensors) for n in ("in", "conv", "pool")}
    # row streaming: an output may run over its dying input if each output row ends before the
    # first input row still to be read. conv (SAME 3x3, stride 1, 48 B rows over 12 B rows):
    # out + 6*48 <= in + 4*12, D = 240. max pool (2x2, stride 2, 24 B rows over 48 B rows): D = 24.
    streamed = {("conv", "in"): 240, ("pool", "conv"): 24}
    for (out, src), d in streamed.items():
        assert buf[out].offset + d <= buf[src].offset < buf[out].offset + buf[out].size
    assert mem.arena_bytes == 336 < mem.live_peak_bytes == 288 + 72
    pairs = {frozenset((id(buf[o]), id(buf[i]))) for o, i in streamed}
    for a in mem.buffers:
        assert a.offset % 4 == 0
        for b in mem.buffers:
            if a is not b and a.overlaps(b) and frozenset((id(a), id(b))) not in pairs:
                assert a.offset + a.size <= b.offset or b.offset + b.size <= a.offset, (a, b)
    d = mem.to_dict()
    assert d["arena_bytes"] == mem.arena_bytes and len(d["buffers"]) == len(mem.buffers)
    assert d["strategy"] and d["live_peak_bytes"] == mem.live_peak_bytes
    assert {"in", "out"} <= {t["name"] for b in d["buffers"] for t in b["tensors"]}


def test_generate_is_deterministic_and_follows_the_engine_api():
    raw = chain_model()
    files = generate(parse(raw), name="chain")
    assert files == generate(parse(raw), name="chain")
    h, c = files["model.h"], files["model.c"]
    model = parse(raw)
    assert model.sha256 in h and model.sha256 in c
    assert not re.search(r"20\d\d-\d\d-\d\d", h + c)  # no timestamps

    def macro(name: str) -> str:
        m = re.search(rf"^#define {name} (.+)$", h, re.M)
        assert m, name
        return m.group(1).strip()

    assert macro("TINYML_ENGINE") == '"aot"'
    assert macro("TINYML_MODEL_NAME") == '"chain"'
    assert macro("TINYML_INPUT_DIMS") == "{1, 6, 6, 2}"
    assert macro("TINYML_INPUT_BYTES") == "72"
    assert macro("TINYML_OUTPUT_ELEMENTS") == "6"
    assert float(macro("TINYML_INPUT_SCALE").rstrip("f")) == pytest.approx(0.05)
    assert macro("TINYML_INPUT_ZERO_POINT") == "(-1)"
    assert macro("TINYML_ARENA_BYTES") == str(plan(model).arena_bytes)
    assert macro("TINYML_NUM_LAYERS") == "3"  # the RESHAPE runs no code
    for fn in ("int tinyml_init(void)", "int tinyml_invoke(const void *input, void *output)",
               "const char *tinyml_layer_name(int i)"):
        assert fn in h and fn in c
    assert c.count("TINYML_LAYER_HOOK(") >= 4  # 3 layers + the end
    assert '"CONV_2D", "MAX_POOL_2D", "FULLY_CONNECTED"' in c


def test_layer_hook_and_names_on_the_host(tmp_path):
    import ctypes

    from tinyml.codegen.aot.host import load

    lib = load(parse(chain_model(units=5)))
    names = [lib.tinyml_layer_name(i) for i in range(4)]
    assert names == [b"CONV_2D", b"MAX_POOL_2D", b"FULLY_CONNECTED", b""]
    assert lib.tinyml_layer_name(-1) == b""
    out = (ctypes.c_int8 * 5)()
    assert lib.tinyml_invoke((ctypes.c_int8 * 72)(), out) == 0


# ---- error paths ----------------------------------------------------------------------------

def test_unknown_op_names_the_op_and_its_position():
    g = GraphBuilder()
    x = g.tensor((1, 4, 4, 2), scale=0.1, zero_point=0)
    a = g.tensor((1, 4, 4, 2), scale=0.1, zero_point=0)
    g.op("MAX_POOL_2D", [x], [a], padding="SAME", stride_h=1, stride_w=1, filter_height=1, filter_width=1)
    y = g.tensor((1, 2, 2, 8), scale=0.1, zero_point=0)
    g.op("SPACE_TO_DEPTH", [a], [y], block_size=2)
    with pytest.raises(TinymlError) as err:
        generate(parse(g.build([x], [y])))
    assert err.value.kind is ErrorKind.UNSUPPORTED
    assert "SPACE_TO_DEPTH" in err.value.message and "#1" in err.value.message
    assert err.value.hint == "use --engine tflm"
    with pytest.raises(TinymlError, match="SPACE_TO_DEPTH"):
        plan(parse(g.build([x], [y])))


def test_unsupported_dtype_names_op_position_and_reason():
    g = GraphBuilder()
    x = g.tensor((1, 4, 4, 2), scale=0.1, zero_point=0)
    a = g.tensor((1, 4, 4, 2), scale=0.1, zero_point=0)
    g.op("MAX_POOL_2D", [x], [a], padding="SAME", stride_h=1, stride_w=1, filter_height=2, filter_width=2)
    w = g.tensor((3, 1, 1, 2), "int16", data=np.ones((3, 1, 1, 2), np.int16), scale=0.1)
    y = g.tensor((1, 4, 4, 3), scale=0.1, zero_point=0)
    g.op("CONV_2D", [a, w, -1], [y], padding="SAME", stride_h=1, stride_w=1)
    with pytest.raises(TinymlError) as err:
        generate(parse(g.build([x], [y])))
    msg = err.value.message
    assert err.value.kind is ErrorKind.UNSUPPORTED
    assert "CONV_2D" in msg and "#1" in msg and "filter is int16" in msg


def test_concatenation_with_different_quantization_is_refused():
    g = GraphBuilder()
    x = g.tensor((1, 4), scale=0.1, zero_point=0)
    k = g.tensor((1, 2), data=np.ones((1, 2), np.int8), scale=0.2, zero_point=0)
    y = g.tensor((1, 6), scale=0.1, zero_point=0)
    g.op("CONCATENATION", [x, k], [y], axis=1)
    with pytest.raises(TinymlError, match=r"CONCATENATION.*input 1 is quantized differently"):
        generate(parse(g.build([x], [y])))


def test_two_inputs_are_refused():
    g = GraphBuilder()
    a = g.tensor((1, 4), scale=0.1, zero_point=0)
    b = g.tensor((1, 4), scale=0.1, zero_point=0)
    y = g.tensor((1, 8), scale=0.1, zero_point=0)
    g.op("CONCATENATION", [a, b], [y], axis=1)
    with pytest.raises(TinymlError, match="2 inputs") as err:
        generate(parse(g.build([a, b], [y])))
    assert err.value.kind is ErrorKind.UNSUPPORTED


def test_run_aot_rejects_wrong_shapes_and_out_of_range_values():
    model = parse(chain_model())
    with pytest.raises(TinymlError, match=r"shape \(6, 6\)") as err:
        run_aot(model, np.zeros((2, 6, 6), np.int8))
    assert err.value.kind is ErrorKind.INPUT
    with pytest.raises(TinymlError, match="int8"):
        run_aot(model, np.full((1, 6, 6, 2), 300, np.int32))
    # in-range integers of another type are accepted
    assert run_aot(model, np.zeros((1, 6, 6, 2), np.int32)).shape == (1, 6)
