import json
import subprocess
import sys

import pytest

from tinyml import __version__
from tinyml.errors import EXIT_CODES, ErrorKind

pytestmark = pytest.mark.unit


def test_version(run_cli):
    r = run_cli("--version")
    assert r.returncode == 0
    assert r.stdout.strip() == f"tinyml {__version__}"


def test_help_imports_neither_tensorflow_nor_tflite_micro():
    code = ("import sys\nsys.argv=['tinyml','--help']\nfrom tinyml.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "bad=[m for m in sys.modules if m.split('.')[0] in ('tensorflow','tflite_micro','keras')]\n"
            "print('HEAVY', bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "HEAVY []" in out


def test_boards_json_lists_required_boards(run_cli):
    r = run_cli("boards", "--json")
    assert r.returncode == 0, r.stderr
    ids = {b["id"] for b in json.loads(r.stdout)}
    assert {"esp32dev", "esp32-s3-devkitc-1", "nano33ble", "uno", "qemu-mps2-an386", "qemu-lm3s6965evb"} <= ids


def test_user_board_dir_adds_and_overrides(run_cli, tmp_path):
    d = tmp_path / "myboards"
    d.mkdir()
    (d / "myboard.toml").write_text(
        'name = "Mine"\narch = "cortex-m4"\nflash_bytes = 1024\nram_bytes = 512\nengines = ["aot"]\n'
        'pio_platform = "x"\npio_board = "y"\n')
    r = run_cli("boards", "--json", "--boards-dir", str(d))
    assert r.returncode == 0, r.stderr
    assert "myboard" in {b["id"] for b in json.loads(r.stdout)}


def test_bad_board_file_is_a_clean_error(run_cli, tmp_path):
    d = tmp_path / "bad"
    d.mkdir()
    (d / "broken.toml").write_text('name = "x"\n')
    r = run_cli("boards", "--boards-dir", str(d))
    assert r.returncode == EXIT_CODES[ErrorKind.INPUT]
    assert "lacks" in r.stderr and "Traceback" not in r.stderr
