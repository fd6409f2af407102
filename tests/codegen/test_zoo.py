"""The model zoo: the six models convert to the expected int8 graphs with the published MAC
counts, and the aot engine reproduces the TFLM interpreter byte for byte on every one of them.

Conversion (about a minute for all six) runs once per session in a child process; set
TINYML_TEST_MODELS=DIR to keep the .tflite files between sessions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tinyml import zoo
from tinyml.codegen.aot.host import run_aot
from tinyml.errors import ErrorKind, TinymlError
from tinyml.model.analysis import analyze
from tinyml.model.reference import run_reference
from tinyml.model.tflite import parse

OPS = {
    "sine": {"FULLY_CONNECTED"},
    "digits_cnn": {"CONV_2D", "MAX_POOL_2D", "FULLY_CONNECTED", "SOFTMAX"},
    "kws_dscnn": {"CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "FULLY_CONNECTED", "SOFTMAX"},
    "vww_mobilenet": {"CONV_2D", "DEPTHWISE_CONV_2D", "MEAN", "RESHAPE", "SOFTMAX"},
    "ic_resnet8": {"CONV_2D", "ADD", "AVERAGE_POOL_2D", "FULLY_CONNECTED", "SOFTMAX"},
    "ad_autoencoder": {"FULLY_CONNECTED"},
}


@pytest.mark.unit
def test_zoo_lists_the_six_models_and_refuses_unknown_names(tmp_path: Path) -> None:
    assert zoo.names() == list(OPS)
    with pytest.raises(TinymlError) as err:
        zoo.quantized("resnet50", tmp_path)
    assert err.value.kind == ErrorKind.INPUT and "resnet50" in err.value.message
    assert "kws_dscnn" in (err.value.hint or "")
    assert not any(tmp_path.iterdir())  # nothing half-written


@pytest.mark.slow
@pytest.mark.codegen
@pytest.mark.parametrize("name", list(OPS))
def test_zoo_model_graph_macs_and_aot_parity(zoo_dir: Path, name: str) -> None:
    raw = zoo.quantized(name, zoo_dir)  # the cached file: no conversion here
    model = parse(raw)
    assert {op.opcode for op in model.operators} == OPS[name]
    assert model.input_tensors()[0].dtype == "int8" and model.output_tensors()[0].dtype == "int8"
    reference_macs = zoo.ZOO[name].macs
    if reference_macs:
        assert analyze(model).totals.macs == pytest.approx(reference_macs, rel=0.02)
    tin = model.input_tensors()[0]
    rng = np.random.default_rng(7)
    x = rng.integers(-128, 128, size=(3, *tin.shape[1:]), dtype=np.int8)
    want = run_reference(raw, x)
    got = run_aot(model, x)
    assert got.tobytes() == want.tobytes(), f"aot {got.reshape(3, -1)[:, :8]} tflm {want.reshape(3, -1)[:, :8]}"
    # random weights must still give a live network: outputs differ between inputs
    assert len({bytes(row) for row in want.reshape(3, -1).view(np.uint8)}) > 1


@pytest.mark.slow
def test_cli_writes_the_same_bytes_as_a_process_that_built_other_models_first(zoo_dir: Path, run_cli,
                                                                                tmp_path: Path) -> None:
    # zoo_dir's models were converted one after the other in one process (digits_cnn after sine);
    # `tinyml zoo digits_cnn` converts it alone: layer names, hence bytes, must not differ
    res = run_cli("zoo", "digits_cnn", "-o", "d.tflite", cwd=tmp_path, env={"TINYML_CACHE": str(tmp_path / "c")})
    assert res.returncode == 0, res.stderr[-2000:]
    assert "wrote" in res.stdout
    assert (tmp_path / "d.tflite").read_bytes() == (zoo_dir / "digits_cnn.tflite").read_bytes()
