import pytest

from tinyml.codegen.project import model_name
from tinyml.errors import EXIT_CODES, ErrorKind, TinymlError

pytestmark = pytest.mark.unit


def test_model_name_comes_from_the_stem_or_its_folder(tmp_path):
    (tmp_path / "sine").mkdir()
    assert model_name(tmp_path / "sine" / "model.tflite") == "sine"
    assert model_name(tmp_path / "kws.tflite") == "kws"
    assert model_name(tmp_path / "model.tflite", "my model\"x") == "my_model_x"
    with pytest.raises(TinymlError):
        model_name(tmp_path / "a.tflite", "")


def test_build_on_a_file_says_it_is_a_file(run_cli, tmp_path):
    f = tmp_path / "model.tflite"
    f.write_bytes(b"x")
    r = run_cli("build", str(f))
    assert r.returncode == EXIT_CODES[ErrorKind.INPUT]
    assert "is a file, not a project directory" in r.stderr and "Traceback" not in r.stderr
