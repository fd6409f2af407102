"""`tinyml zoo`: listing, writing a model, and its error paths (one line, exit code, no traceback,
nothing written)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.mark.unit
def test_zoo_lists_every_model_with_its_mac_count(run_cli) -> None:
    res = run_cli("zoo")
    assert res.returncode == 0, res.stderr
    for name in ("sine", "digits_cnn", "kws_dscnn", "vww_mobilenet", "ic_resnet8", "ad_autoencoder"):
        assert name in res.stdout
    assert "2.66 M" in res.stdout and "12.50 M" in res.stdout


@pytest.mark.unit
def test_zoo_unknown_name_is_a_one_line_input_error(run_cli, tmp_path: Path) -> None:
    res = run_cli("zoo", "resnet50", cwd=tmp_path)
    assert res.returncode == 3
    assert "no zoo model named 'resnet50'" in res.stderr and "kws_dscnn" in res.stderr
    assert "Traceback" not in res.stderr and not any(tmp_path.iterdir())


@pytest.mark.unit
def test_zoo_refuses_to_overwrite_without_force(run_cli, tmp_path: Path) -> None:
    (tmp_path / "m.tflite").write_bytes(b"keep me")
    res = run_cli("zoo", "sine", "-o", "m.tflite", cwd=tmp_path)
    assert res.returncode == 10 and "already exists" in res.stderr and "--force" in res.stderr
    assert (tmp_path / "m.tflite").read_bytes() == b"keep me"
    res = run_cli("zoo", "sine", "-o", str(tmp_path / "missing" / "m.tflite"), cwd=tmp_path)
    assert res.returncode == 10 and "does not exist" in res.stderr
    assert "Traceback" not in res.stderr
