"""Graph -> model.h / model.c: plan the arena, let each op emit its call, render the templates."""

from __future__ import annotations

import re
from typing import Any

import jinja2

from tinyml.codegen.aot.context import OpContext, Unit, c_literal
from tinyml.codegen.aot.planner import MemoryPlan, plan, spec_for
from tinyml.codegen.banner import banner
from tinyml.errors import ErrorKind, TinymlError
from tinyml.model.tflite import Model, Tensor
from tinyml.resources import resource_dir

IO_TYPES = {"int8": "TINYML_INT8", "float32": "TINYML_FLOAT32"}


def _banner(model: Model, what: str) -> str:
    return banner(model.sha256, what).rstrip("\n")


def _check_graph(model: Model) -> None:
    if model.subgraph_count != 1:
        raise TinymlError(f"the model has {model.subgraph_count} subgraphs; the aot engine compiles one",
                          hint="use --engine tflm", kind=ErrorKind.UNSUPPORTED)
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise TinymlError(f"the model has {len(model.inputs)} inputs and {len(model.outputs)} outputs; "
                          "tinyml's engine API has one of each", hint="use a model with one input and one output",
                          kind=ErrorKind.UNSUPPORTED)
    for kind, t in (("input", model.input_tensors()[0]), ("output", model.output_tensors()[0])):
        if t.dtype not in IO_TYPES:
            raise TinymlError(f"the model's {kind} is {t.dtype}; the aot engine takes int8 or float32 I/O",
                              hint="quantize with `tinyml quantize` (int8 I/O, or --float-io)",
                              kind=ErrorKind.UNSUPPORTED)


def _io(kind: str, t: Tensor) -> dict[str, Any]:
    quantized = t.dtype == "int8" and t.quantization is not None
    return {"kind": kind, "type": IO_TYPES[t.dtype], "dims": list(t.shape) or [1], "elements": t.size,
            "bytes": t.nbytes, "scale": c_literal(t.scale if quantized else 0.0, "float"),
            "zero_point": c_literal(t.zero_point if quantized else 0, "int32_t")}


def _c_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name) or "model"


def generate(model: Model, *, target: str = "generic", name: str = "model") -> dict[str, str]:
    """{"model.h": ..., "model.c": ...} for ``model``; pure and deterministic.

    ``target`` is recorded in the banner: constants are TINYML_CONST, which kernels.h turns into
    PROGMEM whenever the compiler targets AVR, so one generated file serves every target.
    """
    _check_graph(model)
    mem: MemoryPlan = plan(model)
    unit = Unit(model, mem)
    layers: list[dict[str, Any]] = []
    materialize = []
    for t in mem.materialized:
        tensor = model.tensors[t]
        arr = unit.tensor_array(tensor, f"const_tensor{t}")
        materialize.append({"index": t, "offset": mem.offset(t), "array": arr, "bytes": tensor.nbytes})
    for op in model.operators:
        spec = spec_for(model, op)
        ctx = OpContext(unit, op, len(layers))
        code = spec.emit(ctx)
        if spec.alias:
            continue  # shares its input's storage: nothing runs
        layers.append({"index": op.index, "name": op.opcode, "code": code.strip()})

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(resource_dir("templates") / "aot")),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                             trim_blocks=False, lstrip_blocks=False, autoescape=False)
    inp, out = model.input_tensors()[0], model.output_tensors()[0]
    values = {
        "banner_h": _banner(model, f"model.h: the {name} model's API (aot engine, target {target})"),
        "banner_c": _banner(model, f"model.c: the {name} model compiled to C (aot engine, target {target})"),
"sha256": model.sha256, "name": _c_name(name),
        "input": _io("INPUT", inp), "output": _io("OUTPUT", out), "arena_bytes": mem.arena_bytes,
        "layers": layers, "plan": mem, "decls": unit.decls, "materialize": materialize,
        "input_offset": mem.offset(inp.index), "output_offset": mem.offset(out.index),
    }
    return {"model.h": env.get_template("model.h.j2").render(values),
            "model.c": env.get_template("model.c.j2").render(values)}

