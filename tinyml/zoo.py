"""A model zoo for tests and benchmarks: the examples' architectures and the four MLPerf Tiny
reference models, built with seeded random weights and seeded calibration data.

Datasets cannot be downloaded here, so the weights are the initializers' (seeded) and the
representative data is seeded noise shaped like each task's input. What matters for the
engines is the architecture (ops, shapes, MACs, parameter count) and a realistic int8 graph;
accuracy is not the point.

    model, rep_x = zoo.build("kws_dscnn")          # Keras model + calibration inputs
    tflite_bytes = zoo.quantized("kws_dscnn", cache_dir)   # int8, cached by name

Reference MAC counts (MLPerf Tiny v1.0 benchmark descriptions) are in ``ZOO[name].macs``.
TensorFlow is imported only when a model is built or converted.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tinyml.errors import ErrorKind, TinymlError

SEED = 1234


def _keras() -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from tinyml.model.quantize import import_tf

    import_tf()  # a clear error when TensorFlow is missing
    import keras

    # Fresh layer-name counters: tensor names end up in the .tflite, so without this the bytes
    # would depend on what the process built before.
    keras.backend.clear_session()
    keras.utils.set_random_seed(SEED)
    return keras


def _rng(name: str) -> np.random.Generator:
    return np.random.default_rng([SEED, sum(name.encode())])


def _calibrate_batchnorm(model: Any, rep: np.ndarray) -> None:
    """Data-dependent init: set every BatchNormalization's moving statistics to the statistics of
    the calibration batch. With initializer weights and identity batch norms, activations shrink
    layer after layer until a deep net outputs constants (MobileNet's logits quantize to a scale
    of 1e-8, which TFLM's SOFTMAX rejects); normalized activations keep every layer busy."""
    bns = [layer for layer in model.layers if type(layer).__name__ == "BatchNormalization"]
    if not bns:
        return
    saved = [layer.momentum for layer in bns]
    for layer in bns:
        layer.momentum = 0.0
    model(rep[:32], training=True)
    for layer, momentum in zip(bns, saved, strict=True):
        layer.momentum = momentum


def sine() -> tuple[Any, np.ndarray]:
    """The sine example: 1 -> Dense 16 relu -> Dense 16 relu -> Dense 1."""
    keras = _keras()
    layers = keras.layers
    model = keras.Sequential([keras.Input((1,)), layers.Dense(16, activation="relu"),
                              layers.Dense(16, activation="relu"), layers.Dense(1)], name="sine")
    rep = _rng("sine").uniform(0.0, 2 * np.pi, (200, 1)).astype(np.float32)
    return model, rep


def digits_cnn() -> tuple[Any, np.ndarray]:
    """8x8x1 digits: Conv 8 3x3 relu valid, MaxPool 2, Conv 16 3x3 valid, Flatten, Dense 10, Softmax."""
    keras = _keras()
    layers = keras.layers
    model = keras.Sequential([keras.Input((8, 8, 1)), layers.Conv2D(8, 3, activation="relu"),
                              layers.MaxPooling2D(2), layers.Conv2D(16, 3), layers.Flatten(),
                              layers.Dense(10), layers.Softmax()], name="digits_cnn")
    rep = _rng("digits").uniform(0.0, 1.0, (200, 8, 8, 1)).astype(np.float32)
    return model, rep


def kws_dscnn() -> tuple[Any, np.ndarray]:
    """MLPerf Tiny keyword spotting DS-CNN: 49x10 MFCC -> Conv 64 (10x4, stride 2) and four
    depthwise-separable blocks of 64, average pool, Dense 12, Softmax (~2.66 M MACs)."""
    keras = _keras()
    layers = keras.layers
    x = keras.Input((49, 10, 1))
    y = layers.Conv2D(64, (10, 4), strides=(2, 2), padding="same", use_bias=False)(x)
    y = layers.ReLU()(layers.BatchNormalization()(y))
    for _ in range(4):
        y = layers.DepthwiseConv2D(3, padding="same", use_bias=False)(y)
        y = layers.ReLU()(layers.BatchNormalization()(y))
        y = layers.Conv2D(64, 1, use_bias=False)(y)
        y = layers.ReLU()(layers.BatchNormalization()(y))
    y = layers.AveragePooling2D(pool_size=(int(y.shape[1]), int(y.shape[2])))(y)
    y = layers.Flatten()(y)
    y = layers.Softmax()(layers.Dense(12)(y))
    rep = _rng("kws").normal(0.0, 8.0, (100, 49, 10, 1)).astype(np.float32)
    model = keras.Model(x, y, name="kws_dscnn")
    _calibrate_batchnorm(model, rep)
    return model, rep


def vww_mobilenet() -> tuple[Any, np.ndarray]:
    """MLPerf Tiny visual wake words: MobileNetV1 alpha 0.25 on 96x96x3, 2 classes (~7.49 M MACs)."""
    keras = _keras()
    model = keras.applications.MobileNet(alpha=0.25, weights=None, input_shape=(96, 96, 3), classes=2)
    rep = _rng("vww").uniform(-1.0, 1.0, (32, 96, 96, 3)).astype(np.float32)
    _calibrate_batchnorm(model, rep)
    return model, rep


def ic_resnet8() -> tuple[Any, np.ndarray]:
    """MLPerf Tiny image classification ResNet-8 on 32x32x3: three residual stacks of 16, 32, 64
    filters, average pool, Dense 10, Softmax (~12.5 M MACs)."""
    keras = _keras()
    layers = keras.layers

    def conv_bn(y: Any, filters: int, stride: int, relu: bool) -> Any:
        y = layers.Conv2D(filters, 3, strides=stride, padding="same",
                          kernel_initializer="he_normal")(y)
        y = layers.BatchNormalization()(y)
        return layers.ReLU()(y) if relu else y

    x = keras.Input((32, 32, 3))
    y = conv_bn(x, 16, 1, True)
    for filters, stride in ((16, 1), (32, 2), (64, 2)):
        z = conv_bn(y, filters, stride, True)
        z = conv_bn(z, filters, 1, False)
        if stride != 1:
            y = layers.Conv2D(filters, 1, strides=stride, padding="same", kernel_initializer="he_normal")(y)
        y = layers.ReLU()(layers.Add()([y, z]))
    y = layers.AveragePooling2D(pool_size=(int(y.shape[1]), int(y.shape[2])))(y)
    y = layers.Flatten()(y)
    y = layers.Softmax()(layers.Dense(10)(y))
    rep = _rng("ic").uniform(0.0, 1.0, (32, 32, 32, 3)).astype(np.float32)
    model = keras.Model(x, y, name="ic_resnet8")
    _calibrate_batchnorm(model, rep)
    return model, rep


def ad_autoencoder() -> tuple[Any, np.ndarray]:
    """MLPerf Tiny anomaly detection FC autoencoder: 640 -> 4x(128) -> 8 -> 4x(128) -> 640, each
    hidden Dense followed by batch norm and ReLU (~0.26 M MACs)."""
    keras = _keras()
    layers = keras.layers
    x = keras.Input((640,))
    y = x
    for units in (128, 128, 128, 128, 8, 128, 128, 128, 128):
        y = layers.ReLU()(layers.BatchNormalization()(layers.Dense(units)(y)))
    y = layers.Dense(640)(y)
    rep = _rng("ad").normal(0.0, 1.0, (100, 640)).astype(np.float32)
    model = keras.Model(x, y, name="ad_autoencoder")
    _calibrate_batchnorm(model, rep)
    return model, rep


@dataclass(frozen=True)
class ZooEntry:
    name: str
    builder: Callable[[], tuple[Any, np.ndarray]]
    macs: int  # reference MAC count of the architecture (0: no published figure)
    description: str


ZOO: dict[str, ZooEntry] = {e.name: e for e in (
    ZooEntry("sine", sine, 0, "sine regression, 3 Dense layers"),
    ZooEntry("digits_cnn", digits_cnn, 0, "8x8 digits CNN"),
    ZooEntry("kws_dscnn", kws_dscnn, 2_660_000, "MLPerf Tiny KWS DS-CNN"),
    ZooEntry("vww_mobilenet", vww_mobilenet, 7_490_000, "MLPerf Tiny VWW MobileNetV1 0.25"),
    ZooEntry("ic_resnet8", ic_resnet8, 12_500_000, "MLPerf Tiny IC ResNet-8"),
    ZooEntry("ad_autoencoder", ad_autoencoder, 260_000, "MLPerf Tiny AD FC autoencoder"),
)}


def names() -> list[str]:
    return list(ZOO)


def _entry(name: str) -> ZooEntry:
    if name not in ZOO:
        raise TinymlError(f"no zoo model named '{name}'", hint="choose one of: " + ", ".join(ZOO),
                          kind=ErrorKind.INPUT)
    return ZOO[name]


def build(name: str) -> tuple[Any, np.ndarray]:
    """(keras_model, rep_x) of a zoo model; the same bytes on every call (seeded)."""
    return _entry(name).builder()


def default_cache_dir() -> Path:
    """Where converted zoo models are kept: ``$TINYML_CACHE/zoo`` or ``~/.cache/tinyml/zoo``."""
    env = os.environ.get("TINYML_CACHE")
    return (Path(env) if env else Path.home() / ".cache" / "tinyml") / "zoo"


def export(name: str, output: str | os.PathLike[str] | None = None, *, float_io: bool = False,
           force: bool = False, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Write the zoo model ``name`` as an int8 .tflite to ``output`` (default ``<name>.tflite``);
    refuses to overwrite an existing file unless ``force``. Returns the path written."""
    _entry(name)
    from tinyml.writer import check_destination, write_file

    dest = Path(output) if output is not None else Path(f"{name}.tflite")
    if dest.exists() and not force:
        raise TinymlError(f"{dest} already exists", hint="pass --force to overwrite it, or choose another -o",
                          kind=ErrorKind.OUTPUT)
    if not dest.parent.is_dir():
        raise TinymlError(f"directory {dest.parent} does not exist", hint="create it first or choose another -o",
                          kind=ErrorKind.OUTPUT)
    check_destination(dest)  # a directory, a read-only one: before converting, not after
    data = quantized(name, cache_dir if cache_dir is not None else default_cache_dir(), float_io=float_io)
    return write_file(dest, data)


def quantized(name: str, cache_dir: str | os.PathLike[str], *, float_io: bool = False) -> bytes:
    """The zoo model as an int8 .tflite, converted once and cached as ``cache_dir/<name>.tflite``
    (``<name>_float_io.tflite`` with float32 I/O)."""
    entry = _entry(name)
    path = Path(cache_dir) / (f"{name}_float_io.tflite" if float_io else f"{name}.tflite")
    if path.is_file():
        return path.read_bytes()
    from tinyml.model.quantize import quantize_keras
    from tinyml.writer import write_file

    model, rep = entry.builder()
    data = quantize_keras(model, rep, float_io=float_io)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_file(path, data)
    return data
