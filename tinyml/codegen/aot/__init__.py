"""The aot engine: an int8 .tflite graph compiled to plain C99 (no interpreter, no malloc).

    files = generate(model, target="generic", name="model")   # {"model.h": ..., "model.c": ...}
    mem = plan(model)                                          # MemoryPlan, mem.to_dict()
    y = tinyml.codegen.aot.host.run_aot(model, x)              # host-compiled, for parity tests

The generated model.c calls the portable kernels in firmware/src/kernels/*.c (declared in
firmware/include/tinyml/kernels.h) that the project generator copies next to it.

Adding an op (one module per op under tinyml/codegen/aot/ops/; it is imported automatically):

    from tinyml.codegen.aot.registry import register
    from tinyml.codegen.aot.context import OpContext

    @register("TANH")                       # options: activation_inputs=(0,) | None (all),
    def emit(ctx: OpContext) -> str:        #   alias=True (no code, shares storage), inplace=True
        x, y = ctx.need_input(0, "input"), ctx.output()   # (may overwrite input 0), overlap=fn
        ctx.require_dtype(x, "input", "int8")             # -> TinymlError(kind=UNSUPPORTED)
        table = ctx.const_array("lut", "int8_t", values)  # static TINYML_CONST int8_t op7_lut[]
        p = ctx.params("tinyml_tanh_params", {"size": x.size, "lut": table})
        return f"tinyml_tanh_s8(&{p}, {ctx.ptr(x)}, {ctx.ptr(y)});"

- The emit function runs at generation time ("prepare"): check dtypes/quantization, compute
  every multiplier with tinyml.codegen.aot.quant (exactly as TFLM does), declare constants,
  and return the C statement(s) of the call. ``ctx.ptr(t)`` is the tensor's arena address.
- Kernel side: add a section to kernels.h (params struct + prototype) and one
  firmware/src/kernels/<op>.c. Params structs are TINYML_CONST (PROGMEM on AVR): load them with
  TINYML_LOAD_PARAMS and read constant arrays only through TINYML_READ_I8/I16/I32/F32.
- Test it against the TFLM interpreter byte for byte (tests/codegen/test_aot_*.py show how;
  tinyml.codegen.aot.synth builds any small graph without TensorFlow).

Memory: one static arena (planner.py). Buffers alive at the same op never share bytes, except
that a row-streaming op (conv, depthwise, pooling: ``overlap=``) may write its output over the
rows of its dying input it has finished reading; graph input and output are copied in and out of
the arena by tinyml_invoke. RESHAPE/SQUEEZE/EXPAND_DIMS are aliases (no copy, no layer).
Numerics follow TFLM's reference kernels exactly, quirks included (double rounding in
MultiplyByQuantizedMultiplier; SPACE_TO_BATCH_ND pads int8 with 0, not the zero point).
"""

from __future__ import annotations

from tinyml.codegen.aot.generator import generate
from tinyml.codegen.aot.planner import MemoryPlan, plan

__all__ = ["MemoryPlan", "generate", "plan"]
