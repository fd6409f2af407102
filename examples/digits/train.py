"""Train the digits example: a small CNN on scikit-learn's 8x8 handwritten digits.

Conv2D 8 3x3 relu (valid) -> MaxPool 2 -> Conv2D 16 3x3 (valid, linear) -> Flatten -> Dense 10 -> Softmax.
Images are scaled to [0, 1] and shaped 8x8x1. Writes ``model.keras``, ``rep.npz`` (training
images for quantization) and ``val.npz`` (held-out images and integer labels) into this folder,
or into ``--out DIR``.

    python examples/digits/train.py [--out DIR] [--epochs N] [--seed S]

Needs scikit-learn (pip install 'tinyml[examples]') for the data set, which ships with it.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
HELD_OUT = 0.2  # share of the 1,797 images kept out of training


def make_data(seed: int = 1) -> dict[str, np.ndarray]:
    """The digits as (N, 8, 8, 1) float32 in [0, 1] and int labels, split train / held-out."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images.astype(np.float32) / 16.0)[..., None]  # pixel values are 0..16
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    x, y = x[order], y[order]
    n_val = int(round(HELD_OUT * len(x)))
    return {"x_train": x[n_val:], "y_train": y[n_val:], "x_val": x[:n_val], "y_val": y[:n_val]}


def build_model():  # -> keras.Model
    import keras

    return keras.Sequential([
        keras.Input(shape=(8, 8, 1), name="image"),
        keras.layers.Conv2D(8, 3, activation="relu", padding="valid"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(16, 3, padding="valid"),
        keras.layers.Flatten(),
        keras.layers.Dense(10),
        keras.layers.Softmax(),
    ], name="digits")


def train(out: Path = HERE, epochs: int = 40, seed: int = 1, verbose: int = 0) -> dict[str, float]:
    """Train, save model.keras / rep.npz / val.npz into ``out``, return the float metrics."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    keras.utils.set_random_seed(seed)
    data = make_data(seed)
    model = build_model()
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.005),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(data["x_train"], data["y_train"], epochs=epochs, batch_size=32, verbose=verbose)
    pred = model.predict(data["x_val"], verbose=0)
    acc = float(np.mean(np.argmax(pred, axis=-1) == data["y_val"]))
    out.mkdir(parents=True, exist_ok=True)
    model.save(out / "model.keras")
    np.savez(out / "rep.npz", x=data["x_train"][:300])
    np.savez(out / "val.npz", x=data["x_val"], y=data["y_val"])
    return {"float_accuracy": acc}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="output folder (default: this folder)")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    start = time.monotonic()
    metrics = train(args.out, epochs=args.epochs, seed=args.seed)
    print(f"trained in {time.monotonic() - start:.1f} s; held-out accuracy (float) "
          f"{100 * metrics['float_accuracy']:.2f} %")
    print(f"wrote {args.out / 'model.keras'}, {args.out / 'rep.npz'}, {args.out / 'val.npz'}")


if __name__ == "__main__":
    main()
