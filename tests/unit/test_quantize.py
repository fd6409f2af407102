"""`tinyml quantize`: errors before any slow work, nothing half-written, and real conversions (slow)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tinyml.errors import EXIT_CODES, ErrorKind, TinymlError
from tinyml.model import tflite

INPUT, OUTPUT, TOOL = (EXIT_CODES[k] for k in (ErrorKind.INPUT, ErrorKind.OUTPUT, ErrorKind.TOOL))


@pytest.fixture
def files(tmp_path):
    """A file that passes the cheap .keras check (a zip) and valid representative/validation data."""
    keras_file = tmp_path / "model.keras"
    with zipfile.ZipFile(keras_file, "w") as z:
        z.writestr("config.json", "{}")
    rep = tmp_path / "rep.npz"
    np.savez(rep, x=np.zeros((4, 1), np.float32))
    return keras_file, rep


def _clean(r: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and r.stderr.startswith("error: ")
    for w in words:
        assert w in r.stderr, (w, r.stderr)


@pytest.mark.unit
def test_missing_model(run_cli, tmp_path, files):
    _, rep = files
    _clean(run_cli("quantize", str(tmp_path / "none.keras"), "--data", str(rep), "-o", "m.tflite"), INPUT,
           "does not exist")


@pytest.mark.unit
@pytest.mark.parametrize("name,content,words", [
    ("model.keras", b"not a zip", ("zip archive",)),
    ("model.keras", None, ("no config.json",)),
    ("model.h5", b"not hdf5", ("not an HDF5 file",)),
    ("model.tflite", b"\0\0\0\0TFL3", ("already a .tflite",)),
    ("model.pkl", b"x", ("not a Keras model file",)),
])
def test_file_that_is_not_a_model(run_cli, tmp_path, files, name, content, words):
    _, rep = files
    bad = tmp_path / name
    if content is None:  # a zip, but not what Keras writes
        with zipfile.ZipFile(bad, "w") as z:
            z.writestr("readme.txt", "hello")
    else:
        bad.write_bytes(content)
    _clean(run_cli("quantize", str(bad), "--data", str(rep), "-o", "m.tflite"), INPUT, *words)
    assert not (tmp_path / "m.tflite").exists()


@pytest.mark.unit
def test_directory_that_is_not_a_saved_model(run_cli, tmp_path, files):
    _, rep = files
    (tmp_path / "dir").mkdir()
    _clean(run_cli("quantize", str(tmp_path / "dir"), "--data", str(rep), "-o", "m.tflite"), INPUT,
           "saved_model.pb")


@pytest.mark.unit
def test_missing_and_bad_data(run_cli, tmp_path, files):
    model, _ = files
    _clean(run_cli("quantize", str(model), "--data", "nope.npz", "-o", "m.tflite"), INPUT,
           "representative data", "does not exist")
    np.savez(tmp_path / "noy.npz", x=np.zeros((3, 1)))
    _clean(run_cli("quantize", str(model), "--data", "noy.npz", "--val", "noy.npz", "-o", "m.tflite"), INPUT,
           "no array 'y'")


@pytest.mark.unit
def test_missing_output_dir_fails_before_tensorflow(monkeypatch, tmp_path, files):
    """The output check runs first: with TensorFlow unimportable we still get the OUTPUT error."""
    from tinyml.model.quantize import quantize_file

    monkeypatch.setitem(sys.modules, "tensorflow", None)
    model, rep = files
    with pytest.raises(TinymlError) as info:
        quantize_file(model, rep, tmp_path / "missing" / "m.tflite")
    assert info.value.kind is ErrorKind.OUTPUT and "does not exist" in info.value.message


@pytest.mark.unit
def test_read_only_output_dir_fails_before_tensorflow(monkeypatch, tmp_path, files):
    # Root ignores permission bits, so make the writability check itself see a read-only directory.
    from tinyml.model.quantize import quantize_file

    monkeypatch.setitem(sys.modules, "tensorflow", None)
    ro = tmp_path / "ro"
    ro.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == ro.absolute() else real_access(p, mode))
    model, rep = files
    with pytest.raises(TinymlError) as info:
        quantize_file(model, rep, ro / "m.tflite")
    assert info.value.kind is ErrorKind.OUTPUT and "not writable" in info.value.message
    assert list(ro.iterdir()) == []


@pytest.mark.unit
@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into read-only directories")
def test_read_only_output_dir_cli(run_cli, tmp_path, files):
    model, rep = files
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        _clean(run_cli("quantize", str(model), "--data", str(rep), "-o", str(ro / "m.tflite")), OUTPUT, "not writable")
    finally:
        ro.chmod(0o755)


@pytest.mark.unit
def test_output_that_is_a_directory(run_cli, tmp_path, files):
    model, rep = files
    (tmp_path / "out").mkdir()
    _clean(run_cli("quantize", str(model), "--data", str(rep), "-o", "out"), OUTPUT, "is a directory")


@pytest.mark.unit
def test_without_tensorflow_names_the_extra(tmp_path, files):
    model, rep = files
    code = ("import sys\nsys.modules['tensorflow'] = None\nfrom tinyml.cli import main\n"
            f"main(['quantize', {str(model)!r}, '--data', {str(rep)!r}, '-o', {str(tmp_path / 'm.tflite')!r}])\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    _clean(r, TOOL, "TensorFlow is not installed", "pip install 'tinyml[tf]'")
    assert not (tmp_path / "m.tflite").exists()


# ---- slow: real models ---------------------------------------------------------------------------

@pytest.fixture(scope="session")
def sine_dir(tmp_path_factory):
    from models import example_dir

    return example_dir("sine", tmp_path_factory.getbasetemp())


@pytest.mark.slow
def test_rep_shape_mismatch(run_cli, tmp_path, sine_dir):
    bad = tmp_path / "bad.npz"
    np.savez(bad, x=np.zeros((4, 3), np.float32))
    r = run_cli("quantize", str(sine_dir / "model.keras"), "--data", str(bad), "-o", "m.tflite")
    _clean(r, INPUT, "(3,)", "(1, 1)", "(N, 1)")
    assert [p.name for p in tmp_path.iterdir()] == ["bad.npz"]  # nothing written, no temp file left


@pytest.mark.unit
def test_a_file_keras_cannot_load_is_an_input_error(monkeypatch, files):
    """Whatever Keras raises on a bad file becomes one INPUT error (stub Keras: no TensorFlow needed)."""
    import types

    from tinyml.model import keras_io, quantize

    def load_model(path, compile=True):
        raise ValueError("File format not supported: filepath=model.keras.\nmore lines")

    stub = types.SimpleNamespace(models=types.SimpleNamespace(load_model=load_model))
    monkeypatch.setitem(sys.modules, "keras", stub)
    monkeypatch.setattr(quantize, "import_tf", lambda: None)
    with pytest.raises(TinymlError) as info:
        keras_io.load_model(files[0])
    assert info.value.kind is ErrorKind.INPUT
    assert info.value.message.endswith("cannot load " + str(files[0]) + " as a Keras model: File format not "
                                       "supported: filepath=model.keras.")


@pytest.mark.slow
def test_saved_model_directory_and_float_io(run_cli, tmp_path, sine_dir):
    sm = tmp_path / "saved"
    code = ("import keras, sys\nm = keras.models.load_model(sys.argv[1])\n"
            "m.export(sys.argv[2], format='tf_saved_model', verbose=False)\n")
    subprocess.run([sys.executable, "-c", code, str(sine_dir / "model.keras"), str(sm)], check=True,
                   capture_output=True, timeout=300, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    r = run_cli("quantize", str(sm), "--data", str(sine_dir / "rep.npz"), "--val", str(sine_dir / "val.npz"),
                "-o", "sm.tflite", "--float-io", "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    m = tflite.load(tmp_path / "sm.tflite")
    assert m.input_tensors()[0].shape == (1, 1)  # batch fixed to 1 though the SavedModel's batch is dynamic
    assert m.input_tensors()[0].dtype == "float32" and m.output_tensors()[0].dtype == "float32"
    assert m.opcodes()[0] == "QUANTIZE" and m.opcodes()[-1] == "DEQUANTIZE"
    assert set(m.opcodes()[1:-1]) == {"FULLY_CONNECTED"}
    c = report["comparison"]
    assert c["metric"] == "rmse" and c["int8_value"] <= 1.1 * c["float_value"]
    assert report["int8_bytes"] == (tmp_path / "sm.tflite").stat().st_size


@pytest.mark.unit
@pytest.mark.parametrize("y,out,words", [
    (np.zeros((4, 10), np.int64), (10,), "one label per sample"),
    (np.array([0, 1, 2, 10]), (10,), "[0, 10]"),
    (np.array([0, 1, 0, 1]), (1,), "single output"),
    (np.zeros((4, 3), np.float32), (1,), "3 value(s) per sample"),
])
def test_validation_targets_must_fit_the_output(y, out, words):
    from tinyml.model.metrics import check_targets

    with pytest.raises(TinymlError) as info:
        check_targets(y, out)
    assert info.value.kind is ErrorKind.INPUT and words in info.value.message


@pytest.mark.unit
def test_validation_targets_accepted():
    from tinyml.model.metrics import check_targets, compare

    assert check_targets(np.array([0, 9, 3]), (10,)) == "classification"
    assert check_targets(np.zeros((3, 1), np.float32), (1,)) == "regression"
    assert check_targets(np.zeros(3, np.float32), (1,)) == "regression"
    scores = np.eye(3)[[0, 2, 1]]
    c = compare(scores, scores[[0, 1, 1]], np.array([0, 2, 2]))
    assert (c.float_value, c.int8_value, c.max_abs_diff) == (pytest.approx(2 / 3), 1.0, 1.0)


@pytest.mark.unit
@pytest.mark.parametrize("message,words", [
    ("Could not translate MLIR to FlatBuffer.<unknown>:0: error: loc(...): 'tf.Erf' op is neither a custom op "
     "nor a flex op\n<unknown>:0: note: ... 'tf.Erf' op is neither a custom op nor a flex op ... "
     "'tf.Acosh' op is neither a custom op nor a flex op", "no int8 TFLite builtin: Acosh, Erf"),
    ("\nsomething else broke\nsecond line", "int8 conversion failed: something else broke"),
])
def test_converter_failure_is_one_clean_error(monkeypatch, message, words):
    """A failing export (stub model and stub TF: no TensorFlow needed) becomes an UNSUPPORTED error."""
    import types

    from tinyml.model import quantize

    class ConverterError(Exception):
        pass

    class Model:
        inputs = [types.SimpleNamespace(shape=(None, 4))]

        def export(self, *args, **kwargs):
            raise ConverterError(message)

    lite = types.SimpleNamespace(Optimize=types.SimpleNamespace(DEFAULT=0),
                                 OpsSet=types.SimpleNamespace(TFLITE_BUILTINS_INT8=0))
    tf = types.SimpleNamespace(float32="f", int8="i", TensorSpec=lambda *a: None, lite=lite)
    monkeypatch.setattr(quantize, "import_tf", lambda: tf)
    with pytest.raises(TinymlError) as info:
        quantize.quantize_keras(Model(), np.zeros((2, 4), np.float32))
    assert info.value.kind is ErrorKind.UNSUPPORTED and words in info.value.message
    assert "\n" not in info.value.message


@pytest.mark.unit
def test_non_finite_representative_data_fails_before_tensorflow(monkeypatch, tmp_path, files):
    from tinyml.model.quantize import quantize_file

    monkeypatch.setitem(sys.modules, "tensorflow", None)
    np.savez(tmp_path / "nan.npz", x=np.array([[0.5], [np.nan]], np.float32))
    with pytest.raises(TinymlError) as info:
        quantize_file(files[0], tmp_path / "nan.npz", tmp_path / "m.tflite")
    assert info.value.kind is ErrorKind.INPUT and "NaN" in info.value.message


@pytest.mark.unit
@pytest.mark.parametrize("inputs,outputs,kind,words", [
    ([(None, None, 3)], [(None, 2)], ErrorKind.UNSUPPORTED, "only the batch axis may be unknown"),
    ([(None, 4), (None, 4)], [(None, 2)], ErrorKind.UNSUPPORTED, "2 inputs and 1 outputs"),
    (None, None, ErrorKind.INPUT, "no defined inputs"),
])
def test_loaded_model_must_have_one_fixed_shape_input(monkeypatch, files, inputs, outputs, kind, words):
    import types

    from tinyml.model import keras_io, quantize

    class Model:
        @property
        def inputs(self):
            if inputs is None:
                raise AttributeError("The layer sequential has never been called and thus has no defined input.")
            return [types.SimpleNamespace(shape=s) for s in inputs]

        @property
        def outputs(self):
            return [types.SimpleNamespace(shape=s) for s in outputs or []]

    stub = types.SimpleNamespace(models=types.SimpleNamespace(load_model=lambda path, compile=True: Model()))
    monkeypatch.setitem(sys.modules, "keras", stub)
    monkeypatch.setattr(quantize, "import_tf", lambda: None)
    with pytest.raises(TinymlError) as info:
        keras_io.load_model(files[0])
    assert info.value.kind is kind and words in info.value.message
