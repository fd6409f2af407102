"""What a .tflite model costs: per-op MACs and parameters, totals, the TFLM ops it needs, board fit.

Pure Python over ``tinyml.model.tflite`` (no TensorFlow). The arena is measured separately
(``tinyml.model.arena``, a child process running the TFLM host interpreter) and handed in.
``inspect_model`` is the one call the CLI makes; everything lands in an ``InspectReport``
dataclass whose ``to_dict()`` is the ``--json`` output.

Flash and RAM of the runtime itself are ESTIMATES (see ``RUNTIME_FLASH`` and docs/inspect.md);
model bytes, weight bytes, MACs and the measured arena are exact.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinyml.errors import ErrorKind, TinymlError
from tinyml.model import checks
from tinyml.model.tflite import Model, Operator, Tensor

# BuiltinOperator -> the MicroMutableOpResolver method that registers its kernel. The list is
# the kernels of the pinned tflite-micro build (its Register_* symbols); custom ops by name.
TFLM_RESOLVER: dict[str, str] = {
    "ABS": "AddAbs", "ADD": "AddAdd", "ADD_N": "AddAddN", "ARG_MAX": "AddArgMax", "ARG_MIN": "AddArgMin",
    "ASSIGN_VARIABLE": "AddAssignVariable", "AVERAGE_POOL_2D": "AddAveragePool2D",
    "BATCH_MATMUL": "AddBatchMatMul", "BATCH_TO_SPACE_ND": "AddBatchToSpaceNd",
    "BROADCAST_ARGS": "AddBroadcastArgs", "BROADCAST_TO": "AddBroadcastTo", "CALL_ONCE": "AddCallOnce",
    "CAST": "AddCast", "CEIL": "AddCeil", "CONCATENATION": "AddConcatenation", "CONV_2D": "AddConv2D",
    "COS": "AddCos", "CUMSUM": "AddCumSum", "DEPTH_TO_SPACE": "AddDepthToSpace",
    "DEPTHWISE_CONV_2D": "AddDepthwiseConv2D", "DEQUANTIZE": "AddDequantize", "DIV": "AddDiv",
    "ELU": "AddElu", "EMBEDDING_LOOKUP": "AddEmbeddingLookup", "EQUAL": "AddEqual", "EXP": "AddExp",
    "EXPAND_DIMS": "AddExpandDims", "FILL": "AddFill", "FLOOR": "AddFloor", "FLOOR_DIV": "AddFloorDiv",
    "FLOOR_MOD": "AddFloorMod", "FULLY_CONNECTED": "AddFullyConnected", "GATHER": "AddGather",
    "GATHER_ND": "AddGatherNd", "GREATER": "AddGreater", "GREATER_EQUAL": "AddGreaterEqual",
    "HARD_SWISH": "AddHardSwish", "IF": "AddIf", "L2_NORMALIZATION": "AddL2Normalization",
    "L2_POOL_2D": "AddL2Pool2D", "LEAKY_RELU": "AddLeakyRelu", "LESS": "AddLess", "LESS_EQUAL": "AddLessEqual",
    "LOG": "AddLog", "LOG_SOFTMAX": "AddLogSoftmax", "LOGICAL_AND": "AddLogicalAnd",
    "LOGICAL_NOT": "AddLogicalNot", "LOGICAL_OR": "AddLogicalOr", "LOGISTIC": "AddLogistic",
    "MAX_POOL_2D": "AddMaxPool2D", "MAXIMUM": "AddMaximum", "MEAN": "AddMean", "MINIMUM": "AddMinimum",
    "MIRROR_PAD": "AddMirrorPad", "MUL": "AddMul", "NEG": "AddNeg", "NOT_EQUAL": "AddNotEqual",
    "PACK": "AddPack", "PAD": "AddPad", "PADV2": "AddPadV2", "PRELU": "AddPrelu", "QUANTIZE": "AddQuantize",
    "READ_VARIABLE": "AddReadVariable", "REDUCE_MAX": "AddReduceMax", "REDUCE_MIN": "AddReduceMin",
    "RELU": "AddRelu", "RELU6": "AddRelu6", "RESHAPE": "AddReshape", "RESIZE_BILINEAR": "AddResizeBilinear",
    "RESIZE_NEAREST_NEIGHBOR": "AddResizeNearestNeighbor", "REVERSE_V2": "AddReverseV2", "ROUND": "AddRound",
    "RSQRT": "AddRsqrt", "SELECT_V2": "AddSelectV2", "SHAPE": "AddShape", "SIN": "AddSin", "SLICE": "AddSlice",
    "SOFTMAX": "AddSoftmax", "SPACE_TO_BATCH_ND": "AddSpaceToBatchNd", "SPACE_TO_DEPTH": "AddSpaceToDepth",
    "SPLIT": "AddSplit", "SPLIT_V": "AddSplitV", "SQRT": "AddSqrt", "SQUARE": "AddSquare",
    "SQUARED_DIFFERENCE": "AddSquaredDifference", "SQUEEZE": "AddSqueeze", "STRIDED_SLICE": "AddStridedSlice",
    "SUB": "AddSub", "SUM": "AddSum", "SVDF": "AddSvdf", "TANH": "AddTanh", "TRANSPOSE": "AddTranspose",
    "TRANSPOSE_CONV": "AddTransposeConv", "UNIDIRECTIONAL_SEQUENCE_LSTM": "AddUnidirectionalSequenceLSTM",
    "UNPACK": "AddUnpack", "VAR_HANDLE": "AddVarHandle", "WHILE": "AddWhile", "ZEROS_LIKE": "AddZerosLike",
    "CUSTOM:TFLite_Detection_PostProcess": "AddDetectionPostprocess",
    "CUSTOM:CIRCULAR_BUFFER": "AddCircularBuffer", "CUSTOM:ethos-u": "AddEthosU",
}

# Flash the engine's code takes on top of the board's ``flash_reserved_bytes`` (framework,
# startup, tinyml's device runtime), by engine and arch: (core, per distinct kernel).
# tflm: ESTIMATES, not measurements of a build (no TFLM sources here): TFLM's interpreter +
# allocator + flatbuffer access is ~16 KB on Cortex-M3 per its README, plus logging/libc; kernels
# are 2-10 KB each (conv with CMSIS-NN variants the most); Xtensa code is less dense and the
# ESP-NN paths add more. aot: the fallback when the generated model cannot be compiled here to
# measure it (tinyml.codegen.aot.footprint: no cross compiler, or Xtensa): kernel code and call
# sequence, from the Cortex-M4 / AVR measurements of the zoo models (2.5-5 KB), plus the weights.
RUNTIME_FLASH: dict[str, dict[str, tuple[int, int]]] = {
    "tflm": {
        "cortex-m0plus": (28 * 1024, 5 * 1024), "cortex-m3": (26 * 1024, 5 * 1024),
        "cortex-m4": (26 * 1024, 5 * 1024), "cortex-m4f": (26 * 1024, 5 * 1024),
        "cortex-m7": (26 * 1024, 5 * 1024), "xtensa-lx6": (48 * 1024, 7 * 1024),
        "xtensa-lx7": (48 * 1024, 7 * 1024), "avr": (40 * 1024, 6 * 1024),
    },
    "aot": {
        "cortex-m0plus": (2 * 1024, 1024), "cortex-m3": (2 * 1024, 1024), "cortex-m4": (2 * 1024, 1024),
        "cortex-m4f": (2 * 1024, 1024), "cortex-m7": (2 * 1024, 1024), "xtensa-lx6": (3 * 1024, 1536),
        "xtensa-lx7": (3 * 1024, 1536), "avr": (2 * 1024, 2 * 1024),
    },
}

# Ops whose kernel does multiply-accumulates over a window: MACs counted below.
_MAC_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV", "BATCH_MATMUL", "CONV_3D")
_POOL_OPS = ("AVERAGE_POOL_2D", "MAX_POOL_2D", "L2_POOL_2D")
# Ops that only move or view data: no arithmetic per element.
_MOVE_OPS = ("RESHAPE", "SQUEEZE", "EXPAND_DIMS", "CONCATENATION", "PACK", "UNPACK", "SPLIT", "SPLIT_V",
             "SLICE", "STRIDED_SLICE", "TRANSPOSE", "PAD", "PADV2", "MIRROR_PAD", "GATHER", "GATHER_ND",
             "SHAPE", "DEPTH_TO_SPACE", "SPACE_TO_DEPTH", "BATCH_TO_SPACE_ND", "SPACE_TO_BATCH_ND",
             "BROADCAST_TO", "FILL", "ZEROS_LIKE", "CAST")


@dataclass
class TensorInfo:
    index: int
    name: str
    shape: list[int]
    dtype: str
    bytes: int
    constant: bool
    scale: list[float] | None = None
    zero_point: list[int] | None = None
    axis: int | None = None

    @classmethod
    def of(cls, t: Tensor) -> TensorInfo:
        q = t.quantization
        return cls(index=t.index, name=t.name, shape=list(t.shape), dtype=t.dtype, bytes=t.nbytes,
                   constant=t.is_constant,
                   scale=[float(s) for s in q.scale] if q else None,
                   zero_point=[int(z) for z in q.zero_point] if q else None,
                   axis=q.axis if q and q.per_channel else None)

    def short(self) -> str:
        return f"{self.dtype}[{','.join(map(str, self.shape))}]"


@dataclass
class OpCost:
    index: int
    opcode: str
    version: int
    inputs: list[TensorInfo]  # activations only (constants are the op's parameters)
    outputs: list[TensorInfo]
    params: list[TensorInfo]
    macs: int
    elem_ops: int  # non-MAC arithmetic per inference (pool window reads, elementwise ops)
    param_bytes: int
    resolver: str | None  # MicroMutableOpResolver method, None when TFLM has no kernel


@dataclass
class Totals:
    ops: int
    macs: int
    elem_ops: int
    weight_bytes: int  # all constant tensors (flash), each counted once
    activation_bytes: int  # all non-constant tensors, if nothing were reused
    activation_peak_bytes: int  # largest sum of simultaneously live activations (no in-place reuse)
    model_bytes: int


@dataclass
class BoardFit:
    board: str
    board_name: str
    engine: str
    flash_bytes: int
    flash_model_bytes: int  # tflm: the .tflite; aot: measured model flash (else its constant tensors)
    flash_runtime_bytes: int  # the board's flash_reserved_bytes + (tflm, unmeasured aot) an engine estimate
    flash_used_bytes: int
    flash_margin_bytes: int
    flash_margin_pct: float
    ram_bytes: int
    arena_bytes: int
    arena_source: str  # "measured (TFLM host interpreter)" or "estimate (...)"
    ram_reserved_bytes: int
    ram_used_bytes: int
    ram_margin_bytes: int
    ram_margin_pct: float
    fits: bool
    notes: list[str] = field(default_factory=list)
    flash_samples_bytes: int = 0  # a generated project's stored input samples (samples.h)


@dataclass
class InspectReport:
    path: str
    sha256: str
    model_bytes: int
    description: str
    scheme: str  # checks.classify: int8, int8-float-io, float, hybrid, uint8, int16
    scheme_detail: str
    deployable: bool
    hint: str | None
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    ops: list[OpCost]
    totals: Totals
    resolver: list[str]  # MicroMutableOpResolver calls, in first-use order
    unsupported_ops: list[str]  # op codes TFLM has no kernel for
    subgraphs: int
    arena_bytes: int | None = None
    arena_note: str = ""
    fit: BoardFit | None = None
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def check(self) -> None:
        """Raise for what makes the asked-for deployment impossible (only when a board was given)."""
        if self.fit is None:
            return
        if self.unsupported_ops and self.fit.engine == "tflm":
            raise unsupported_ops_error(self.unsupported_ops)
        if not self.fit.fits:
            over = []
            if self.fit.flash_margin_bytes < 0:
                over.append(f"flash by {-self.fit.flash_margin_bytes} bytes")
            if self.fit.ram_margin_bytes < 0:
                over.append(f"RAM by {-self.fit.ram_margin_bytes} bytes")
            raise TinymlError(f"the model does not fit {self.fit.board}: over {' and '.join(over)}",
                              hint="choose a bigger board, or shrink the model (fewer filters/units, smaller input)",
                              kind=ErrorKind.DOES_NOT_FIT)


def unsupported_ops_error(ops: list[str]) -> TinymlError:
    return TinymlError(f"TFLite Micro has no kernel for: {', '.join(ops)}",
                       hint="re-export the model with builtin int8 ops only (TFLITE_BUILTINS_INT8) "
                            "or replace those layers", kind=ErrorKind.UNSUPPORTED)


def tflm_resolver(model: Model) -> list[str]:
    """The MicroMutableOpResolver calls the model needs, in first-use order; unknown ops -> error."""
    missing = [op for op in model.opcodes() if op not in TFLM_RESOLVER]
    if missing:
        raise unsupported_ops_error(missing)
    return [TFLM_RESOLVER[op] for op in model.opcodes()]


def _elements(shape: tuple[int, ...]) -> int:
    return int(np.prod([max(d, 1) for d in shape])) if shape else 1


def op_macs(model: Model, op: Operator) -> tuple[int, int]:
    """(MACs, other element ops) of one op for one inference."""
    t = model.tensors

    def shape(k: int) -> tuple[int, ...]:
        return t[op.inputs[k]].shape if len(op.inputs) > k and op.inputs[k] >= 0 else ()

    out = t[op.outputs[0]].shape if op.outputs else ()
    out_n = _elements(out)
    code = op.opcode
    try:
        if code == "CONV_2D":
            oc, kh, kw, ic = shape(1)  # filter OHWI; ic is per group for grouped convs
            return out_n * kh * kw * ic, 0
        if code == "DEPTHWISE_CONV_2D":
            _, kh, kw, _ = shape(1)  # filter 1HW(C*multiplier)
            return out_n * kh * kw, 0
        if code == "FULLY_CONNECTED":
            units, depth = shape(1)[0], shape(1)[-1]
            return (out_n // max(units, 1)) * units * depth, 0
        if code == "TRANSPOSE_CONV":
            oc, kh, kw, ic = shape(1)
            return _elements(shape(2)) * kh * kw * oc, 0  # every input element scattered into a window
        if code == "BATCH_MATMUL":
            a = shape(0)
            adj_x = bool(op.options.get("adj_x", False))
            depth = a[-2] if adj_x else a[-1]
            return out_n * depth, 0
        if code == "CONV_3D":
            kd, kh, kw, ic, _ = shape(1)
            return out_n * kd * kh * kw * ic, 0
        if code in _POOL_OPS:
            fh = int(op.options.get("filter_height", 1))
            fw = int(op.options.get("filter_width", 1))
            return 0, out_n * fh * fw
        if code in ("MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN"):
            return 0, _elements(shape(0))
    except (ValueError, IndexError):
        return 0, 0  # malformed shapes: report no cost rather than guess
    if code in _MOVE_OPS:
        return 0, 0
    return 0, out_n


def _activation_peak(model: Model) -> int:
    """Largest sum of activation bytes live at once, with each tensor live from producer to last reader."""
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    n_ops = len(model.operators)
    for i in model.inputs:
        first[i] = -1
    for op in model.operators:
        for k in op.outputs:
            first.setdefault(k, op.index)
            last[k] = max(last.get(k, op.index), op.index)
        for k in op.inputs:
            if k >= 0 and not model.tensors[k].is_constant:
                first.setdefault(k, -1)
                last[k] = op.index
    for o in model.outputs:
        last[o] = n_ops
    peak = 0
    for step in range(-1, n_ops + 1):
        live = sum(model.tensors[k].nbytes for k in first
                   if not model.tensors[k].is_constant and first[k] <= step <= last.get(k, first[k]))
        peak = max(peak, live)
    return peak


def analyze(model: Model) -> InspectReport:
    """Everything about ``model`` that needs no interpreter and no board."""
    scheme = checks.classify(model)
    ops: list[OpCost] = []
    for op in model.operators:
        acts_in = [TensorInfo.of(model.tensors[i]) for i in op.inputs if i >= 0 and not model.tensors[i].is_constant]
        params = [TensorInfo.of(model.tensors[i]) for i in op.inputs if i >= 0 and model.tensors[i].is_constant]
        macs, elem = op_macs(model, op)
        ops.append(OpCost(index=op.index, opcode=op.opcode, version=op.version, inputs=acts_in,
                          outputs=[TensorInfo.of(model.tensors[i]) for i in op.outputs if i >= 0],
                          params=params, macs=macs, elem_ops=elem, param_bytes=sum(p.bytes for p in params),
                          resolver=TFLM_RESOLVER.get(op.opcode)))
    constants = [t for t in model.tensors if t.is_constant]
    totals = Totals(ops=len(ops), macs=sum(o.macs for o in ops), elem_ops=sum(o.elem_ops for o in ops),
                    weight_bytes=sum(t.nbytes for t in constants),
                    activation_bytes=sum(t.nbytes for t in model.tensors if not t.is_constant),
                    activation_peak_bytes=_activation_peak(model), model_bytes=model.size)
    unsupported = [op for op in model.opcodes() if op not in TFLM_RESOLVER]
    warnings = []
    if model.subgraph_count > 1:
        warnings.append(f"the model has {model.subgraph_count} subgraphs (control flow); only the main one "
                        "is analysed, so ops, MACs and the resolver list may be incomplete")
    return InspectReport(warnings=warnings,
        path=model.label, sha256=model.sha256, model_bytes=model.size, description=model.description,
        scheme=scheme.kind, scheme_detail=scheme.detail, deployable=scheme.deployable,
        hint=checks.hint_for(scheme), inputs=[TensorInfo.of(t) for t in model.input_tensors()],
        outputs=[TensorInfo.of(t) for t in model.output_tensors()], ops=ops, totals=totals,
        resolver=[TFLM_RESOLVER[op] for op in model.opcodes() if op in TFLM_RESOLVER],
        unsupported_ops=unsupported, subgraphs=model.subgraph_count)


def board_fit(report: InspectReport, board: Any, engine: str, arena_bytes: int | None,
              arena_source: str | None = None, aot_flash_bytes: int | None = None,
              samples_bytes: int = 0) -> BoardFit:
    """Flash and RAM of ``report``'s model on ``board`` (a tinyml.boards.Board) with ``engine``.

    ``arena_bytes`` is the TFLM arena measured on the host (tflm) or the aot memory plan (aot);
    without it the peak of live activations stands in, flagged as a lower-bound estimate.
    ``aot_flash_bytes``: the aot model's flash measured by compiling it for the board's arch
    (constants + kernels + calls); without it, the constant tensors + an estimate of the code.
    Both engines add the board's ``flash_reserved_bytes`` (framework, startup, device runtime),
    and a generated project the ``samples_bytes`` of the inputs it stores to stream.
    """
    reserved = board.flash_reserved_bytes
    kernels = len({o.opcode for o in report.ops})
    notes = []
    if engine == "aot" and aot_flash_bytes is not None:
        model_flash, runtime = aot_flash_bytes, reserved
        notes.append(f"aot model flash measured by compiling it for {board.arch} (constants + kernels + calls)")
    else:
        core, per_kernel = RUNTIME_FLASH[engine].get(board.arch, (32 * 1024, 5 * 1024))
        runtime = reserved + core + per_kernel * kernels
        # tflm keeps the whole flatbuffer in flash; aot only the constant tensors.
        model_flash = report.model_bytes if engine == "tflm" else report.totals.weight_bytes
        what = "interpreter" if engine == "tflm" else "kernel code"
        notes.append(f"{engine} {what} flash is an estimate on {board.arch}: {core // 1024} KB + "
                     f"{per_kernel / 1024:g} KB per kernel x {kernels}")
    notes.append(f"board reserves {reserved:,} B of flash before any model (framework, startup, device runtime)")
    if arena_bytes is not None:
        arena = arena_bytes
        source = arena_source or ("measured (TFLM host interpreter, 64-bit; 32-bit targets need slightly less)"
                                  if engine == "tflm" else "aot memory plan")
    else:
        arena = report.totals.activation_peak_bytes
        source = "estimate (peak of live activations, lower bound without in-place reuse)"
        notes.append("arena neither measured nor planned: the real one is larger than this lower bound")
    flash_used = model_flash + runtime + samples_bytes
    ram_used = arena + board.ram_reserved_bytes
    flash_margin = board.flash_bytes - flash_used
    ram_margin = board.ram_bytes - ram_used
    return BoardFit(
        board=board.id, board_name=board.name, engine=engine, flash_bytes=board.flash_bytes,
        flash_model_bytes=model_flash, flash_runtime_bytes=runtime, flash_used_bytes=flash_used,
        flash_margin_bytes=flash_margin, flash_margin_pct=round(100.0 * flash_margin / board.flash_bytes, 1),
        ram_bytes=board.ram_bytes, arena_bytes=arena, arena_source=source,
        ram_reserved_bytes=board.ram_reserved_bytes, ram_used_bytes=ram_used, ram_margin_bytes=ram_margin,
        ram_margin_pct=round(100.0 * ram_margin / board.ram_bytes, 1),
        fits=flash_margin >= 0 and ram_margin >= 0, notes=notes, flash_samples_bytes=samples_bytes)


def _aot_arena(model: Model) -> tuple[int | None, str | None]:
    """The aot engine's static arena from its memory planner, or (None, None) if it cannot plan."""
    try:
        from tinyml.codegen.aot.planner import plan

        return plan(model).arena_bytes, "aot memory plan (exact for the aot engine)"
    except (ImportError, TinymlError):
        return None, None


def inspect_model(path: str | Path, *, board: str | None = None, boards_dir: str | Path | None = None,
                  engine: str | None = None, measure: bool = True) -> InspectReport:
    """Analyse a .tflite file; with ``board``, also check it is int8 and whether it fits.

    Raises for what the user can fix before anything is reported: a missing/corrupt file, an
    unknown board or engine, and (with a board) a model that is not full-integer int8. A model
    that does not fit is returned with ``fit.fits == False``: call ``report.check()``.
    """
    from tinyml.model.tflite import load

    model = load(path)
    target = None
    if engine is not None and engine not in RUNTIME_FLASH:  # a typo, with or without --board
        raise TinymlError(f"unknown engine '{engine}'", hint=f"engines: {', '.join(RUNTIME_FLASH)}",
                          kind=ErrorKind.USAGE)
    if board is not None:
        from tinyml.boards import get_board

        target = get_board(board, boards_dir)
        engine = engine or target.engines[0]
        if engine not in target.engines:
            raise TinymlError(f"board {target.id} does not support the {engine} engine",
                              hint=f"its engines: {', '.join(target.engines)}", kind=ErrorKind.UNSUPPORTED)
        checks.require_int8(model)
    report = analyze(model)
    if measure and not report.unsupported_ops and (target is None or engine == "tflm"):
        from tinyml.model.arena import measure_arena

        try:
            report.arena_bytes = measure_arena(model.raw)
            report.arena_note = "smallest arena with which the TFLM host interpreter runs the model (16-byte steps)"
        except TinymlError as err:
            if target is not None:
                raise
            report.arena_note = f"not measured: {err.message}"
    elif report.unsupported_ops:
        report.arena_note = "not measured: TFLM has no kernel for " + ", ".join(report.unsupported_ops)
    else:
        report.arena_note = "not measured"
    if target is not None and engine is not None:
        arena, source = report.arena_bytes, None
        measured_flash = None
        if engine == "aot":
            from tinyml.codegen.aot.footprint import model_flash_bytes

            arena, source = _aot_arena(model)
            measured_flash = model_flash_bytes(model, target.arch)
        report.fit = board_fit(report, target, engine, arena, source, aot_flash_bytes=measured_flash)
    return report
