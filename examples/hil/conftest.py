"""The digits HIL suite's settings. Run from the repository root:

    pytest examples/hil --tinyml-board qemu-mps2-an386                 # a virtual board
    pytest examples/hil --tinyml-board esp32dev --tinyml-port /dev/ttyUSB0
    pytest examples/hil --tinyml-board nano33ble --tinyml-port rfc2217://rig.lan:4000

Without --tinyml-project the suite uses examples/digits/model.tflite and val.npz, training and
quantizing them first if they are missing (about 30 s, needs TensorFlow and scikit-learn).
The bounds below are options so that a slow board changes them, not the test code.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

DIGITS = Path(__file__).resolve().parent.parent / "digits"


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("tinyml digits HIL suite")
    g.addoption("--hil-val", default=None, metavar="NPZ",
                help="held-out images and labels (x, y); default examples/digits/val.npz")
    g.addoption("--hil-samples", type=int, default=120, metavar="N", help="images to run on the board (default 120)")
    g.addoption("--hil-min-accuracy", type=float, default=0.90, metavar="A",
                help="lowest accepted accuracy on those images (default 0.90)")
    g.addoption("--hil-max-latency-us", type=int, default=None, metavar="US",
                help="highest accepted device time of one inference (default: 50000 us, 250000 us on AVR)")


def _has_target(config: pytest.Config) -> bool:
    return bool(config.getoption("tinyml_board") or config.getoption("tinyml_port"))


def _ensure_digits() -> None:
    """examples/digits/model.tflite and val.npz, made the way examples/digits/README.md says."""
    if (DIGITS / "model.tflite").is_file() and (DIGITS / "val.npz").is_file():
        return
    print("\n[hil] training and quantizing examples/digits (first run only)...", flush=True)
    subprocess.run([sys.executable, str(DIGITS / "train.py")], check=True)
    subprocess.run([sys.executable, "-m", "tinyml", "quantize", "model.keras", "--data", "rep.npz", "--val",
                    "val.npz", "-o", "model.tflite"], check=True, cwd=DIGITS)


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("tinyml_project") is not None or not _has_target(config):
        return
    if not hasattr(config, "workerinput"):  # xdist: the controller trains once, before the workers start
        _ensure_digits()
    config.option.tinyml_project = str(DIGITS / "model.tflite")


@pytest.fixture(scope="session")
def val(request: pytest.FixtureRequest) -> tuple[np.ndarray, np.ndarray]:
    path = request.config.getoption("hil_val") or str(DIGITS / "val.npz")
    n = int(request.config.getoption("hil_samples"))
    with np.load(path) as d:
        return d["x"][:n], d["y"][:n]


# Default latency bounds by architecture: digits is 3,904 MACs; an ATmega328P at 16 MHz takes
# about 140 ms (measured on the simulated Uno), Cortex-M and ESP32 boards a few ms.
LATENCY_US = {"avr": 250_000}
DEFAULT_LATENCY_US = 50_000


@pytest.fixture(scope="session")
def limits(request: pytest.FixtureRequest, dut) -> dict[str, float]:
    from tinyml.boards import get_board

    bound = request.config.getoption("hil_max_latency_us")
    if bound is None:
        arch = get_board(dut.banner.board).arch if dut.banner.board else ""
        bound = LATENCY_US.get(arch, DEFAULT_LATENCY_US)
    return {"accuracy": float(request.config.getoption("hil_min_accuracy")), "latency_us": float(bound)}
