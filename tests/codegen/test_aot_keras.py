"""aot engine vs the TFLM host interpreter on Keras models quantized the way users quantize them.

The models are built and converted once per session (a handful of conversions: many layers are
batched into one model as parallel branches joined by CONCATENATION), then every model runs on
random int8 inputs through both engines and must agree byte for byte.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tinyml.codegen.aot.host import run_aot
from tinyml.codegen.aot.synth import patch_options
from tinyml.model.reference import run_reference
from tinyml.model.tflite import Model, load

pytestmark = [pytest.mark.codegen, pytest.mark.slow]

SAMPLES = 24


def conv_zoo(keras: Any) -> Any:
    """CONV_2D / DEPTHWISE_CONV_2D / pooling variants on one odd-sized input."""
    L = keras.layers
    inp = keras.Input((9, 9, 3))
    f = L.Flatten
    a = [
        f()(L.Conv2D(4, 3, padding="same", activation="relu")(inp)),
        f()(L.Conv2D(5, 3, strides=2, padding="valid", activation="relu6")(inp)),
        f()(L.Conv2D(3, (2, 3), strides=(2, 1), padding="same")(inp)),
        f()(L.Conv2D(4, 3, dilation_rate=2)(inp)),  # VALID: stays one CONV_2D with dilation 2
        f()(L.Conv2D(7, 1, use_bias=False)(inp)),
        f()(L.Conv2D(6, 3, groups=3, padding="same")(inp)),
    ]
    b = [
        f()(L.DepthwiseConv2D(3, padding="same", activation="relu")(inp)),
        f()(L.DepthwiseConv2D(3, depth_multiplier=2, strides=2)(inp)),
        f()(L.DepthwiseConv2D(3, depth_multiplier=3, dilation_rate=(2, 1), activation="relu6")(inp)),
        f()(L.AveragePooling2D(2)(inp)),
        f()(L.AveragePooling2D(3, strides=2, padding="same")(inp)),
        f()(L.MaxPooling2D(3, strides=1, padding="same")(inp)),
        f()(L.MaxPooling2D(2, strides=2)(inp)),
    ]
    # TFLM's CONCATENATION takes at most 10 inputs
    return keras.Model(inp, L.Concatenate()([L.Concatenate()(a), L.Concatenate()(b)]))


def dense_chain(keras: Any) -> Any:
    L = keras.layers
    inp = keras.Input((13,))
    x = L.Dense(17, activation="relu")(inp)
    x = L.Dense(9, activation="relu6")(x)
    x = L.Dense(6, use_bias=False)(x)
    return keras.Model(inp, L.Dense(5)(x))


def dense_rows(keras: Any) -> Any:
    """Dense on a (4, 6) input: FULLY_CONNECTED over 4 rows (keep_num_dims)."""
    L = keras.layers
    inp = keras.Input((4, 6))
    return keras.Model(inp, L.Dense(5, activation="relu")(L.Dense(7)(inp)))


def pad_concat(keras: Any) -> Any:
    """PAD, CONCATENATION on the channel, height and width axes, RESHAPE, a small CNN around them."""
    L = keras.layers
    inp = keras.Input((5, 7, 4))
    p = L.ZeroPadding2D(((1, 2), (0, 3)))(inp)
    c = L.Conv2D(3, 2, padding="same")(p)
    ch = L.Concatenate(axis=-1)([p, c])
    h = L.Concatenate(axis=1)([inp, L.MaxPooling2D((1, 1))(inp)])
    w = L.Concatenate(axis=2)([inp, L.Conv2D(4, 1)(inp)])
    y = L.Concatenate()([L.Flatten()(ch), L.Flatten()(h), L.Flatten()(w)])
    return keras.Model(inp, L.Dense(10)(L.Reshape((-1,))(y)))


def dilated_same(keras: Any) -> Any:
    """SAME dilated convolutions: the converter wraps them in SPACE_TO_BATCH_ND / BATCH_TO_SPACE_ND
    and emits their activations as separate RELU / RELU6 ops."""
    L = keras.layers
    inp = keras.Input((9, 9, 3))
    a = L.Conv2D(4, 3, dilation_rate=2, padding="same", activation="relu")(inp)
    b = L.DepthwiseConv2D(3, depth_multiplier=3, dilation_rate=2, padding="same", activation="relu6")(inp)
    return keras.Model(inp, L.Concatenate()([L.Flatten()(a), L.Flatten()(b)]))


BUILDERS: dict[str, Callable[[Any], Any]] = {"conv_zoo": conv_zoo, "dense_chain": dense_chain,
                                             "dense_rows": dense_rows, "pad_concat": pad_concat,
                                             "dilated_same": dilated_same}
PER_TENSOR = ("conv_zoo", "dense_chain")


def convert_per_tensor(tf: Any, model: Any, rep: np.ndarray) -> bytes:
    """quantize_keras's conversion with per-channel weights turned off (the converter's private flag)."""

    def gen():
        for s in rep:
            yield [s[None, ...]]

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "m.tflite"
        model.export(str(out), format="litert", verbose=False,
                     input_signature=[tf.TensorSpec([1, *rep.shape[1:]], tf.float32)],
                     optimizations=[tf.lite.Optimize.DEFAULT], representative_dataset=gen,
                     target_spec={"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]},
                     inference_input_type=tf.int8, inference_output_type=tf.int8,
                     _experimental_disable_per_channel=True)
        return out.read_bytes()


@pytest.fixture(scope="session")
def keras_models(tmp_path_factory) -> dict[str, Path]:
    pytest.importorskip("tensorflow")
    from tinyml.model.quantize import import_tf, quantize_keras

    tf = import_tf()
    import keras

    out = tmp_path_factory.mktemp("aot-keras")
    paths: dict[str, Path] = {}
    for name, build in BUILDERS.items():
        keras.utils.set_random_seed(7)
        model = build(keras)
        rep = np.random.default_rng(3).normal(size=(64, *model.inputs[0].shape[1:])).astype(np.float32)
        paths[name] = out / f"{name}.tflite"
        paths[name].write_bytes(quantize_keras(model, rep))
        if name in PER_TENSOR:
            paths[f"{name}_per_tensor"] = out / f"{name}_per_tensor.tflite"
            paths[f"{name}_per_tensor"].write_bytes(convert_per_tensor(tf, model, rep))
    # fused activations Keras cannot express, and a SAME dilated conv (the converter would wrap it
    # in SPACE_TO_BATCH_ND): patch the converted flatbuffer; TFLM runs the patched graph too.
    zoo = load(paths["conv_zoo"])
    convs = [op.index for op in zoo.operators if op.opcode in ("CONV_2D", "DEPTHWISE_CONV_2D")]
    raw = zoo.raw
    for k, i in enumerate(convs):
        raw = patch_options(raw, i, fused_activation_function="RELU_N1_TO_1" if k % 2 == 0 else "RELU")
        if zoo.operators[i].options.get("padding") == "SAME" and zoo.operators[i].opcode == "CONV_2D":
            raw = patch_options(raw, i, dilation_h_factor=2, dilation_w_factor=3)
    paths["conv_zoo_patched"] = out / "conv_zoo_patched.tflite"
    paths["conv_zoo_patched"].write_bytes(raw)
    return paths


def filters(model: Model) -> list[int]:
    """Number of scales of each conv/FC filter."""
    return [len(model.tensors[op.inputs[1]].quantization.scale) for op in model.operators
            if op.opcode in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")]


EXPECTED_OPS = {
    "conv_zoo": {"CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "MAX_POOL_2D", "CONCATENATION", "RESHAPE"},
    "dense_chain": {"FULLY_CONNECTED"},
    "dense_rows": {"FULLY_CONNECTED"},
    "pad_concat": {"PAD", "CONCATENATION", "CONV_2D", "FULLY_CONNECTED"},
    "dilated_same": {"SPACE_TO_BATCH_ND", "BATCH_TO_SPACE_ND", "RELU", "RELU6", "DEPTHWISE_CONV_2D"},
}


@pytest.mark.parametrize("name", ["conv_zoo", "conv_zoo_per_tensor", "conv_zoo_patched", "dense_chain",
                                  "dense_chain_per_tensor", "dense_rows", "pad_concat", "dilated_same"])
def test_matches_tflm_byte_for_byte(keras_models, name):
    model = load(keras_models[name])
    ops = set(model.opcodes())
    assert EXPECTED_OPS[name.split("_per_tensor")[0].replace("_patched", "")] <= ops, ops
    scales = filters(model)
    if name.endswith("per_tensor"):
        assert set(scales) == {1}, scales
    elif name in ("conv_zoo", "dense_chain"):
        assert all(s > 1 for s in scales), scales
    if name == "conv_zoo_patched":
        acts = {op.options.get("fused_activation_function") for op in model.operators}
        assert "RELU_N1_TO_1" in acts
        assert any(op.options.get("dilation_w_factor") == 3 for op in model.operators)
    tin = model.input_tensors()[0]
    x = np.random.default_rng(11).integers(-128, 128, size=(SAMPLES, *tin.shape[1:]), dtype=np.int8)
    want = run_reference(model.raw, x)
    got = run_aot(model, x)
    assert got.dtype == want.dtype and got.shape == want.shape
    diff = np.flatnonzero(got != want)
    assert diff.size == 0, f"{diff.size} of {got.size} output bytes differ, max |diff| " \
                           f"{np.abs(got.astype(int) - want.astype(int)).max()}"
    # not a degenerate model: outputs vary with the input
    assert len({row.tobytes() for row in got}) > 1
