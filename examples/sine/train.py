"""Train the sine example: the TFLite Micro "hello_world" task.

A 1-16-16-1 MLP (relu, relu, linear) learns y = sin(x) for x in [0, 2*pi] from noisy samples.
Writes ``model.keras``, ``rep.npz`` (representative inputs for quantization) and ``val.npz``
(held-out x and y) into this folder, or into ``--out DIR``.

    python examples/sine/train.py [--out DIR] [--epochs N] [--seed S]

Fixed seeds: the same command gives the same data, and on the same machine the same model.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SAMPLES = 1000
NOISE = 0.1  # standard deviation of the noise added to sin(x), as in TFLM's hello_world


def make_data(seed: int = 1) -> dict[str, np.ndarray]:
    """Noisy samples of sin(x), split 60 / 20 / 20 into train, validation (for training) and held-out."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 2 * np.pi, SAMPLES).astype(np.float32)
    y = (np.sin(x) + NOISE * rng.standard_normal(SAMPLES)).astype(np.float32)
    x, y = x[:, None], y[:, None]  # one feature in, one value out
    a, b = int(0.6 * SAMPLES), int(0.8 * SAMPLES)
    return {"x_train": x[:a], "y_train": y[:a], "x_fit_val": x[a:b], "y_fit_val": y[a:b],
            "x_val": x[b:], "y_val": y[b:]}


def build_model():  # -> keras.Model
    import keras

    return keras.Sequential([
        keras.Input(shape=(1,), name="x"),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dense(1),
    ], name="sine")


def train(out: Path = HERE, epochs: int = 60, seed: int = 1, verbose: int = 0) -> dict[str, float]:
    """Train, save model.keras / rep.npz / val.npz into ``out``, return the float metrics."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    keras.utils.set_random_seed(seed)
    data = make_data(seed)
    model = build_model()
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss="mse")
    model.fit(data["x_train"], data["y_train"], epochs=epochs, batch_size=32, verbose=verbose,
              validation_data=(data["x_fit_val"], data["y_fit_val"]))
    pred = model.predict(data["x_val"], verbose=0)
    rmse = float(np.sqrt(np.mean((pred - data["y_val"]) ** 2)))
    out.mkdir(parents=True, exist_ok=True)
    model.save(out / "model.keras")
    np.savez(out / "rep.npz", x=data["x_train"][:300])
    np.savez(out / "val.npz", x=data["x_val"], y=data["y_val"])
    return {"float_rmse": rmse}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="output folder (default: this folder)")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    start = time.monotonic()
    metrics = train(args.out, epochs=args.epochs, seed=args.seed)
    print(f"trained in {time.monotonic() - start:.1f} s; held-out RMSE (float) {metrics['float_rmse']:.4f}")
    print(f"wrote {args.out / 'model.keras'}, {args.out / 'rep.npz'}, {args.out / 'val.npz'}")


if __name__ == "__main__":
    main()
