"""`tinyml inspect --engine aot` prints the aot memory plan (and says why when it cannot plan)."""

from __future__ import annotations

import json

import pytest
from test_aot_unit import chain_model

from tinyml.codegen.aot import plan
from tinyml.codegen.aot.synth import GraphBuilder
from tinyml.model.tflite import parse

pytestmark = pytest.mark.codegen


def test_inspect_prints_the_aot_plan(run_cli, tmp_path):
    raw = chain_model()
    (tmp_path / "m.tflite").write_bytes(raw)
    want = plan(parse(raw)).arena_bytes
    res = run_cli("inspect", "m.tflite", "--engine", "aot", "--no-arena")
    assert res.returncode == 0, res.stderr
    assert f"aot memory plan: arena {want:,} B" in res.stdout
    res = run_cli("inspect", "m.tflite", "--engine", "aot", "--no-arena", "--json")
    assert res.returncode == 0, res.stderr
    d = json.loads(res.stdout)["aot_plan"]
    assert d["arena_bytes"] == want and d["naive_bytes"] > want
    names = {t["name"] for b in d["buffers"] for t in b["tensors"]}
    assert {"in", "conv", "pool", "flat", "out"} <= names


def test_inspect_says_why_the_aot_engine_cannot_plan(run_cli, tmp_path):
    g = GraphBuilder()
    x = g.tensor((1, 4, 4, 2), scale=0.1, zero_point=0)
    y = g.tensor((1, 2, 2, 8), scale=0.1, zero_point=0)
    g.op("SPACE_TO_DEPTH", [x], [y], block_size=2)
    (tmp_path / "s.tflite").write_bytes(g.build([x], [y]))
    res = run_cli("inspect", "s.tflite", "--engine", "aot", "--no-arena")
    assert res.returncode == 0
    assert "SPACE_TO_DEPTH" in res.stderr and "#0" in res.stderr and "Traceback" not in res.stderr
    assert "aot memory plan" not in res.stdout
    res = run_cli("inspect", "s.tflite", "--engine", "aot", "--no-arena", "--json")
    assert json.loads(res.stdout)["aot_plan"] is None
