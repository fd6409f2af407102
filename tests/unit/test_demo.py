"""`tinyml demo`: a list of steps sharing one context (easy to extend), and the real run (slow)."""

from __future__ import annotations

import re
import shutil

import pytest

from tinyml.demo import STEPS, Step, run_demo
from tinyml.errors import EXIT_CODES, ErrorKind, TinymlError


@pytest.mark.unit
def test_steps_run_in_order_and_share_artifacts(tmp_path):
    seen: list[str] = []

    def first(ctx):
        ctx.artifacts["value"] = 41
        return ["one"]

    def second(ctx):
        ctx.artifacts["value"] += 1
        return [f"value {ctx.artifacts['value']}"]

    ctx = run_demo(tmp_path / "wd", steps=[Step("a", "first", first), Step("b", "second", second)],
                   echo=seen.append)
    assert ctx.artifacts["value"] == 42 and (tmp_path / "wd").is_dir()
    assert seen[0] == "[1/2] first" and "    one" in seen and "[2/2] second" in seen and "    value 42" in seen
    assert seen[-1].startswith("demo done")


@pytest.mark.unit
def test_default_steps_cover_the_pipeline():
    assert [s.name for s in STEPS] == ["train", "quantize", "inspect", "convert", "run",
                                       "generate", "build", "flash", "stream"]


@pytest.mark.unit
def test_workdir_that_is_a_file(run_cli, tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(TinymlError) as info:
        run_demo(tmp_path / "f", steps=[])
    assert info.value.kind is ErrorKind.OUTPUT
    r = run_cli("demo", "--workdir", "f")
    assert r.returncode == EXIT_CODES[ErrorKind.OUTPUT] and "not a directory" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.slow
def test_demo_end_to_end_reusing_the_trained_model(run_cli, tmp_path, tmp_path_factory):
    from models import example_dir

    wd = tmp_path / "demo"
    wd.mkdir()
    shutil.copy(example_dir("sine", tmp_path_factory.getbasetemp()) / "model.keras", wd / "model.keras")
    r = run_cli("demo", "--workdir", str(wd))
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "reusing" in out and "[5/9] run on the TFLite Micro host interpreter" in out
    # the firmware half: built, flashed on QEMU, streamed results equal the host interpreter's
    assert re.search(r"all \d+ results computed on the emulated CPU equal the TFLM host interpreter's", out)
    assert "virtual board stopped" in out and (wd / "firmware" / "tinyml.json").is_file()
    assert "device: model sine (" in out  # the banner names the model after its .tflite
    for f in ("sine.tflite", "rep.npz", "val.npz", "c/model_data.h", "c/model_data.c"):
        assert (wd / f).is_file(), f
    m = re.search(r"held-out RMSE: float ([0-9.]+), int8 ([0-9.]+)", out)
    assert m and float(m.group(2)) <= 1.1 * float(m.group(1))
    host = re.search(r"200 held-out samples on the TFLM host interpreter: RMSE ([0-9.]+)", out)
    assert host and host.group(1) == m.group(2)  # the run step reproduces quantize's int8 figure
