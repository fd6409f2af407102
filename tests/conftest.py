"""Shared fixtures. Markers: unit, codegen, emulator, hardware, slow (see pyproject.toml)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def run_cli(tmp_path: Path):
    """Run the real `tinyml` entry point in a subprocess: exit code, stdout, stderr."""

    def _run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
             timeout: float = 600) -> subprocess.CompletedProcess[str]:
        full_env = dict(os.environ)
        full_env.update(env or {})
        return subprocess.run([sys.executable, "-m", "tinyml", *args], cwd=cwd or tmp_path, env=full_env,
                              capture_output=True, text=True, timeout=timeout)

    return _run


@pytest.fixture(scope="session")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """sine / digits / big int8 models (+ sine_val / digits_val .npz), converted once per session
    in a child process (tests/model_zoo.py; TINYML_TEST_MODELS=DIR keeps them across sessions)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import model_zoo

    return model_zoo.build(model_zoo.session_dir(tmp_path_factory.mktemp("zoo")))


@pytest.fixture(scope="session")
def zoo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The six tinyml.zoo models as int8 .tflite, converted once per session in a child process
    (TensorFlow stays out of the pytest process); TINYML_TEST_MODELS=DIR keeps them across sessions."""
    from tinyml import zoo as zoo_models

    override = os.environ.get("TINYML_TEST_MODELS")
    d = (Path(override) if override else tmp_path_factory.getbasetemp()) / "zoo"
    d.mkdir(parents=True, exist_ok=True)
    if not all((d / f"{n}.tflite").is_file() for n in zoo_models.names()):
        code = "import sys\nfrom tinyml import zoo\nfor n in zoo.names():\n    zoo.quantized(n, sys.argv[1])\n"
        res = subprocess.run([sys.executable, "-c", code, str(d)], cwd=ROOT, timeout=900, text=True,
                             env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"), capture_output=True)
        if res.returncode != 0:
            pytest.fail(f"converting the zoo failed:\n{res.stderr[-3000:]}")
    return d


@pytest.fixture
def check_flash_prediction():
    """Checks a built project against the flash its fit check predicted (tinyml.json): never
    below the firmware (a "fits" that does not link) and at most 15 % above it."""
    import json

    from tinyml.build.pio import program_path
    from tinyml.codegen.aot.footprint import elf_flash_bytes

    def _check(project: Path, arch: str) -> tuple[int, int]:
        predicted = json.loads((project / "tinyml.json").read_text())["fit"]["flash_used_bytes"]
        elf = program_path(project)
        assert elf is not None and elf.suffix == ".elf", elf
        built = elf_flash_bytes(elf, arch)
        assert built <= predicted <= 1.15 * built, (predicted, built)
        return predicted, built

    return _check
