"""tinyml.model.analysis and `tinyml inspect` on TF-free hand-built models."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_inspect_models import CNN, GraphBuilder, cnn_model, fc_model, float16_model

from tinyml.errors import EXIT_CODES, ErrorKind, TinymlError
from tinyml.model import analysis
from tinyml.model.tflite import parse

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("inspect-models")
    made = {"cnn": cnn_model(), "fc": fc_model(), "fc_batch3": fc_model(batch=3, n_in=20, units=6),
            "float_io": fc_model(float_io=True), "float": fc_model(dtype="float32"),
            "hybrid": fc_model(dtype="float32", weight_dtype="int8"), "uint8": fc_model(dtype="uint8"),
            "float16": float16_model()}
    paths = {}
    for name, raw in made.items():
        paths[name] = d / f"{name}.tflite"
        paths[name].write_bytes(raw)
    return paths


def test_cnn_macs_params_and_order(models):
    r = analysis.analyze(parse(models["cnn"].read_bytes()))
    c = CNN
    hw, oc, k, ic = c["conv_hw"], c["conv_out_c"], c["conv_k"], c["in"][2]
    dc = oc * c["dw_mult"]
    flat = c["pool_hw"] ** 2 * dc
    assert [o.opcode for o in r.ops] == ["CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "RESHAPE",
                                         "FULLY_CONNECTED", "SOFTMAX"]
    macs = [o.macs for o in r.ops]
    assert macs[0] == hw * hw * oc * k * k * ic
    assert macs[1] == hw * hw * dc * c["dw_k"] ** 2
    assert macs[2:4] == [0, 0]
    assert macs[4] == flat * c["classes"]
    assert r.totals.macs == sum(macs)
    assert r.ops[2].elem_ops == c["pool_hw"] ** 2 * dc * c["pool"] ** 2
    # params: int8 filter + int32 bias per conv, the int32 shape of RESHAPE, FC weights + bias
    assert r.ops[0].param_bytes == oc * k * k * ic + 4 * oc
    assert r.ops[1].param_bytes == dc * c["dw_k"] ** 2 + 4 * dc
    assert r.ops[3].param_bytes == 8
    assert r.ops[4].param_bytes == flat * c["classes"] + 4 * c["classes"]
    assert r.totals.weight_bytes == sum(o.param_bytes for o in r.ops)
    assert r.totals.model_bytes == models["cnn"].stat().st_size
    assert r.ops[0].inputs[0].shape == [1, *c["in"]] and r.ops[0].outputs[0].shape == [1, hw, hw, oc]
    assert r.resolver == ["AddConv2D", "AddDepthwiseConv2D", "AddAveragePool2D", "AddReshape",
                          "AddFullyConnected", "AddSoftmax"]
    assert r.scheme == "int8" and r.deployable and r.unsupported_ops == []


def test_fc_macs_count_batches(models):
    r = analysis.analyze(parse(models["fc_batch3"].read_bytes()))
    assert r.ops[0].macs == 3 * 20 * 6


def test_shared_constant_counted_once():
    g = GraphBuilder()
    x = g.tensor([1, 4], scale=0.1)
    w = g.tensor([4, 4], data=g.weights([4, 4]), scale=0.01)
    h = g.tensor([1, 4], scale=0.1)
    y = g.tensor([1, 4], scale=0.1)
    g.op("FULLY_CONNECTED", [x, w, -1], [h], "FullyConnectedOptions")
    g.op("FULLY_CONNECTED", [h, w, -1], [y], "FullyConnectedOptions")
    r = analysis.analyze(parse(g.build([x], [y])))
    assert [o.param_bytes for o in r.ops] == [16, 16]
    assert r.totals.weight_bytes == 16
    assert r.resolver == ["AddFullyConnected"]  # once, even if used twice


def test_activation_peak_is_largest_live_set(models):
    r = analysis.analyze(parse(models["cnn"].read_bytes()))
    c = CNN
    hw, oc, dc = c["conv_hw"], c["conv_out_c"], c["conv_out_c"] * c["dw_mult"]
    # the depthwise step holds its input (conv output) and its output at once
    assert r.totals.activation_peak_bytes == max(hw * hw * oc + hw * hw * dc, 10 * 10 * 3 + hw * hw * oc)


def test_unknown_ops_are_listed():
    g = GraphBuilder()
    x = g.tensor([1, 4], "float32")
    y = g.tensor([1, 4], "float32")
    z = g.tensor([1, 4], "float32")
    g.op("CUSTOM:MyOp", [x], [y])
    g.op("HASHTABLE_LOOKUP", [y], [z])
    model = parse(g.build([x], [z]))
    with pytest.raises(TinymlError) as exc:
        analysis.tflm_resolver(model)
    assert exc.value.kind is ErrorKind.UNSUPPORTED
    assert "CUSTOM:MyOp" in exc.value.message and "HASHTABLE_LOOKUP" in exc.value.message
    assert analysis.analyze(model).unsupported_ops == ["CUSTOM:MyOp", "HASHTABLE_LOOKUP"]


def test_resolver_names_are_tflm_methods():
    from tinyml.model.tflite import _enum_names

    builtins = set(_enum_names("BuiltinOperator").values())
    for op, method in analysis.TFLM_RESOLVER.items():
        assert method.startswith("Add") and method.isidentifier()
        assert op.startswith("CUSTOM:") or op in builtins, op


def test_board_fit_arithmetic(models):
    from tinyml.boards import get_board

    board = get_board("qemu-lm3s6965evb")
    r = analysis.analyze(parse(models["cnn"].read_bytes()))
    fit = analysis.board_fit(r, board, "tflm", 5000)
    assert fit.flash_used_bytes == r.model_bytes + fit.flash_runtime_bytes
    assert fit.flash_margin_bytes == board.flash_bytes - fit.flash_used_bytes
    assert fit.ram_used_bytes == 5000 + board.ram_reserved_bytes
    assert fit.ram_margin_bytes == board.ram_bytes - fit.ram_used_bytes
    assert fit.fits
    assert not analysis.board_fit(r, board, "tflm", board.ram_bytes).fits  # arena alone fills the RAM
    assert fit.flash_runtime_bytes > board.flash_reserved_bytes > 0  # the board's own + TFLM's estimate
    aot = analysis.board_fit(r, board, "aot", None)
    assert aot.flash_model_bytes == r.totals.weight_bytes  # unmeasured: the constants + a code estimate
    assert aot.flash_runtime_bytes > board.flash_reserved_bytes
    assert aot.arena_bytes == r.totals.activation_peak_bytes and "lower bound" in aot.arena_source
    measured = analysis.board_fit(r, board, "aot", 100, aot_flash_bytes=4321, samples_bytes=64)
    assert (measured.flash_model_bytes, measured.flash_runtime_bytes) == (4321, board.flash_reserved_bytes)
    assert measured.flash_used_bytes == 4321 + board.flash_reserved_bytes + 64 == (
        board.flash_bytes - measured.flash_margin_bytes)


# ---- the CLI ----

def _board_dir(tmp_path: Path, ram: int, flash: int = 1 << 20) -> Path:
    d = tmp_path / "boards"
    d.mkdir(exist_ok=True)
    (d / "tiny.toml").write_text(f'name = "Tiny"\narch = "cortex-m4"\nflash_bytes = {flash}\nram_bytes = {ram}\n'
                                 'engines = ["tflm", "aot"]\npio_platform = "x"\npio_board = "y"\n'
                                 'ram_reserved_bytes = 1024\n')
    return d


def test_cli_inspect_json(run_cli, models):
    r = run_cli("inspect", str(models["cnn"]), "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["scheme"] == "int8" and data["fit"] is None
    assert data["totals"]["macs"] == sum(o["macs"] for o in data["ops"])
    assert data["arena_bytes"] % 16 == 0 and data["arena_bytes"] > data["totals"]["activation_peak_bytes"]
    assert data["inputs"][0]["shape"] == [1, *CNN["in"]] and data["inputs"][0]["zero_point"] == [-128]


def test_cli_inspect_table_and_fit(run_cli, models):
    r = run_cli("inspect", str(models["cnn"]), "--board", "qemu-mps2-an386", "--engine", "aot")
    assert r.returncode == 0, r.stderr
    for word in ("CONV_2D", "DEPTHWISE_CONV_2D", "MicroMutableOpResolver<6>", "AddSoftmax", "fits"):
        assert word in r.stdout


def test_cli_does_not_fit_prints_report_then_fails(run_cli, models, tmp_path):
    d = _board_dir(tmp_path, ram=2048)  # the arena (~3 KB) + 1 KB reserved cannot fit
    r = run_cli("inspect", str(models["cnn"]), "--board", "tiny", "--boards-dir", str(d), "--engine", "tflm",
                "--json")
    assert r.returncode == EXIT_CODES[ErrorKind.DOES_NOT_FIT], r.stderr
    data = json.loads(r.stdout)  # the report came first, complete
    assert data["fit"]["fits"] is False and data["fit"]["ram_margin_bytes"] < 0
    assert data["fit"]["arena_bytes"] == data["arena_bytes"]
    assert "does not fit tiny" in r.stderr and "RAM by" in r.stderr and "Traceback" not in r.stderr


def test_cli_fits_with_enough_ram(run_cli, models, tmp_path):
    d = _board_dir(tmp_path, ram=64 * 1024)
    r = run_cli("inspect", str(models["cnn"]), "--board", "tiny", "--boards-dir", str(d), "--engine", "tflm",
                "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["fit"]["fits"] is True


def test_cli_flash_too_small(run_cli, models, tmp_path):
    d = _board_dir(tmp_path, ram=1 << 20, flash=16 * 1024)  # below the runtime estimate alone
    r = run_cli("inspect", str(models["fc"]), "--board", "tiny", "--boards-dir", str(d), "--no-arena")
    assert r.returncode == EXIT_CODES[ErrorKind.DOES_NOT_FIT]
    assert "flash by" in r.stderr


@pytest.mark.parametrize("name, word", [("float", "float"), ("hybrid", "hybrid"), ("uint8", "uint8"),
                                        ("float16", "float16")])
def test_cli_board_rejects_non_int8(run_cli, models, name, word):
    r = run_cli("inspect", str(models[name]), "--board", "qemu-mps2-an386")
    assert r.returncode == EXIT_CODES[ErrorKind.UNSUPPORTED], r.stderr
    assert word in r.stderr and "hint:" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("name", ["float", "hybrid", "uint8"])
def test_cli_without_board_warns_but_reports(run_cli, models, name):
    r = run_cli("inspect", str(models[name]), "--json", "--no-arena")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["deployable"] is False
    assert "warning: not deployable as int8" in r.stderr


def test_cli_float_io_is_deployable(run_cli, models):
    r = run_cli("inspect", str(models["float_io"]), "--board", "qemu-mps2-an386", "--json", "--no-arena")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["scheme"] == "int8-float-io"


def test_cli_unknown_board(run_cli, models):
    r = run_cli("inspect", str(models["fc"]), "--board", "no-such-board")
    assert r.returncode == EXIT_CODES[ErrorKind.USAGE]
    assert "unknown board 'no-such-board'" in r.stderr and "Traceback" not in r.stderr


def test_cli_engine_not_on_board(run_cli, models):
    r = run_cli("inspect", str(models["fc"]), "--board", "uno", "--engine", "tflm")
    assert r.returncode == EXIT_CODES[ErrorKind.UNSUPPORTED]
    assert "does not support the tflm engine" in r.stderr


def test_cli_unknown_engine_without_board(run_cli, models):
    r = run_cli("inspect", str(models["fc"]), "--engine", "magic")
    assert r.returncode == EXIT_CODES[ErrorKind.USAGE]
    assert "unknown engine" in r.stderr


def test_cli_bad_files(run_cli, tmp_path, models):
    rng = np.random.default_rng(7)
    cases = {"missing": tmp_path / "nope.tflite", "random": tmp_path / "random.tflite",
             "text": tmp_path / "notes.tflite", "empty": tmp_path / "empty.tflite", "dir": tmp_path}
    cases["random"].write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    cases["text"].write_text("this is not a model\n" * 20)
    cases["empty"].write_bytes(b"")
    for name, path in cases.items():
        r = run_cli("inspect", str(path))
        assert r.returncode == EXIT_CODES[ErrorKind.INPUT], (name, r.stderr)
        assert r.stderr.startswith("error: ") and "Traceback" not in r.stderr, (name, r.stderr)


def test_cli_truncated_models(run_cli, models, tmp_path):
    raw = models["cnn"].read_bytes()
    for cut in (7, 8, 64, len(raw) // 3, len(raw) // 2, len(raw) - 200):
        p = tmp_path / f"cut{cut}.tflite"
        p.write_bytes(raw[:cut])
        r = run_cli("inspect", str(p), "--no-arena")
        assert r.returncode == EXIT_CODES[ErrorKind.INPUT], (cut, r.stdout, r.stderr)
        assert "not a valid .tflite model" in r.stderr and "Traceback" not in r.stderr, (cut, r.stderr)


def test_inspect_does_not_import_tensorflow(models):
    code = ("import sys\nfrom tinyml.cli import main\n"
            f"sys.argv = ['tinyml', 'inspect', {str(models['cnn'])!r}, '--json']\n"
            "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            "heavy = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')]\n"
            "print('HEAVY', heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "HEAVY []" in out


def test_cli_board_with_op_tflm_lacks(run_cli, tmp_path):
    g = GraphBuilder()
    x = g.tensor([1, 4], scale=0.1)
    y = g.tensor([1, 4], scale=0.1)
    g.op("CUSTOM:MyInt8Op", [x], [y])
    p = tmp_path / "custom.tflite"
    p.write_bytes(g.build([x], [y]))
    d = _board_dir(tmp_path, ram=1 << 20)
    r = run_cli("inspect", str(p), "--board", "tiny", "--boards-dir", str(d), "--engine", "tflm", "--json")
    assert r.returncode == EXIT_CODES[ErrorKind.UNSUPPORTED], r.stderr
    assert "no kernel for: CUSTOM:MyInt8Op" in r.stderr
    assert json.loads(r.stdout)["unsupported_ops"] == ["CUSTOM:MyInt8Op"]


def test_aot_fit_uses_the_planner(models):
    r = analysis.inspect_model(models["cnn"], board="qemu-mps2-an386", engine="aot")
    assert r.fit is not None and r.fit.engine == "aot" and r.arena_bytes is None  # no TFLM run for aot
    planned, _ = analysis._aot_arena(parse(models["cnn"].read_bytes()))
    if planned is None:
        assert "lower bound" in r.fit.arena_source
    else:
        assert r.fit.arena_bytes == planned and "aot memory plan" in r.fit.arena_source
        # In-place ops let the aot plan go below the live-set peak, but never below the largest
        # activation tensor, which must exist whole at some point.
        m = parse(models["cnn"].read_bytes())
        largest = max(t.nbytes for t in m.tensors if not t.is_constant)
        assert largest <= planned


def test_several_subgraphs_are_flagged(models):
    from tinyml.model.tflite import schema

    s = schema()
    m = s.ModelT.InitFromPackedBuf(models["fc"].read_bytes(), 0)
    m.subgraphs.append(m.subgraphs[0])  # a second subgraph, as WHILE/IF bodies would add
    import flatbuffers

    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    r = analysis.analyze(parse(bytes(b.Output())))
    assert r.subgraphs == 2 and any("2 subgraphs" in w for w in r.warnings)
    assert analysis.analyze(parse(models["fc"].read_bytes())).warnings == []
